// Package storage provides backing volumes for the node agent, one provider
// per pool kind: LVM and LVM_THIN (lvm2 tools) and FILE and FILE_THIN
// (backing files attached as loop devices). Providers run every host
// command through a hostexec.Executor, read the host before they change it,
// and record the owning resource's uid with each volume (an LVM tag, or the
// backing file's name) so that only the exact volume asked for is ever
// removed.
package storage
