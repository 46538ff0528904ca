// Package drbdsim simulates the DRBD 9 kernel module for hosts that have
// none (this machine, CI), so that `piraeusctl agent --drbd-sim-dir DIR`
// and the agent's tests can drive DRBD end to end while every storage
// command (losetup, truncate, lvcreate, ...) still runs for real.
//
// Sim is a hostexec.Executor. It takes drbdadm, drbdsetup and drbdmeta and
// hands every other command to the next executor. drbdadm itself is not
// simulated: each drbdadm command is first run through the real drbdadm in
// dry-run mode, as the agent would run it (same resource file, same host
// name), with DRBD_DRIVER_VERSION_OVERRIDE telling drbdadm the kernel is
// DRBD 9. A config or command drbdadm rejects fails exactly as drbdadm
// fails. What drbdadm prints it would run (drbdsetup and drbdmeta lines) is
// then run against the simulated kernel, which is therefore driven by
// drbdadm's own reading of the resource file; the simulator has no parser
// of resource files. For adjust, the simulator compares drbdadm's full
// configuration with its kernel and runs (or, for --dry-run, prints) only
// the difference, as drbdadm does against a real kernel. drbdadm's answer
// depends only on its arguments, the host name and the resource file, so
// an identical invocation of an unchanged file reuses it (a steady state
// starts no drbdadm processes).
//
// The kernel's state lives in files under one directory shared by all
// simulated nodes of a test or of hack/local-up.sh: DIR/resources/<resource>/<node>.json,
// one file per node and resource, written with rename under an flock of the
// resource. A node's file holds what its kernel has configured (resource,
// devices, peers, paths, role) and the metadata of its volumes (disk state,
// data generation, last agreed size), which survives `down` as metadata on
// a disk does. Peers see each other through these files: a connection is
// Connected when both sides are up, name each other with matching node ids
// and paths, and both asked to connect; an Inconsistent disk becomes
// UpToDate from a connected UpToDate peer (instantly, or after a
// configurable resync time); `primary --force` and `new-current-uuid
// --clear-bitmap` start the data as DRBD does; diverged generations are a
// split brain and leave both sides StandAlone. Status comes out in
// drbdsetup's own `status --json` and `events2 --now` formats.
//
// The package sits under agent/ because it is the agent's DRBD kernel
// when there is none. It imports only hostexec, never the agent or
// agent/drbd, so imports stay one-way (agent → drbdsim → hostexec) and the
// simulator cannot borrow the agent's own assumptions: metadata sizes, the
// status format and the DRBD rules are written here from DRBD's sources,
// so a mistake in the agent shows up as a difference.
//
// Not simulated: the data path (there is no /dev/drbdN; the backing device
// holds the data), I/O errors, online verify, outdating, `drbdsetup status`
// without --json, and events2 as a stream (only --now). Resize takes the
// peers' capacity as their kernels last read it, so the last node to grow
// its backing device and resize completes a growth.
package drbdsim
