// Package hostexec is the one door through which piraeusctl runs host
// commands (lvm2, drbd-utils, losetup, mkfs, mount). Every command is a Cmd
// value marked read-only or mutating, so callers can be tested by the exact
// command sequence they produce (Recorder, Script) and a converge that changes
// nothing can be proven to have run no mutating command. The Local executor
// runs commands for real, with a timeout, optionally inside a fresh UTS
// namespace whose host name is the Kubernetes node name (what DRBD matches
// its `on <host>` sections against).
package hostexec
