package drbdsim

import (
	"fmt"
	"strings"
)

// failure is a command the simulated kernel or drbdmeta refused, with the
// exit code and message the real tools give.
type failure struct {
	exit   int
	stderr string
}

func (f *failure) Error() string { return strings.TrimSpace(f.stderr) }

// DRBD's configuration error codes (drbd.h, enum drbd_ret_code) and their
// texts as drbdsetup prints them.
const (
	errOpenDisk       = 104
	errMDInvalid      = 119
	errDiskConfigured = 124
	errMinorInvalid   = 127
	errResizeResync   = 130
	errNoDisk         = 138
	errResNotKnown    = 158
	errResInUse       = 159
	errMinorConfig    = 160
	errMinorExists    = 161
	errInvalidRequest = 162
	errImplicitShrink = 170
)

var errText = map[int]string{
	errOpenDisk:       "Can not open backing device.",
	errMDInvalid:      "No valid meta-data signature found.\n\n\t==> Use 'drbdadm create-md res' to initialize meta-data area. <==\n",
	errDiskConfigured: "Device is attached to a disk (use detach first)",
	errMinorInvalid:   "Device minor not allocated",
	errResizeResync:   "Resize not allowed during resync.",
	errNoDisk:         "Device does not have a disk-config",
	errResNotKnown:    "Unknown resource",
	errResInUse:       "Resource still in use (delete all minors first)",
	errMinorConfig:    "Minor still configured (down it first)",
	errMinorExists:    "Minor or volume exists already (delete it first)",
	errInvalidRequest: "Invalid configuration request",
	errImplicitShrink: "Implicit device shrinking not allowed. See kernel log.",
}

// kernelFailure is drbdsetup's "Failure: (code) text" (exit 10), with the
// kernel's additional info when given.
func kernelFailure(obj string, code int, info string) *failure {
	msg := fmt.Sprintf("%s: Failure: (%d) %s\n", obj, code, errText[code])
	if info != "" {
		msg += "additional info from kernel:\n" + info + "\n"
	}
	return &failure{exit: 10, stderr: msg}
}

// State change errors (enum drbd_state_rv) and their texts.
const (
	ssTwoPrimaries  = -1
	ssNoUpToDate    = -2
	ssIsDiskless    = -11
	ssNoQuorum      = -25
	ssAttachNoBitmp = -26
)

var stateText = map[int]string{
	ssTwoPrimaries:  "Multiple primaries not allowed by config",
	ssNoUpToDate:    "Need access to UpToDate data",
	ssIsDiskless:    "Device is diskless, the requested operation requires a disk",
	ssNoQuorum:      "No quorum",
	ssAttachNoBitmp: "Intentional diskless peer may not attach a disk",
}

// stateFailure is drbdsetup's "State change failed: (code) text"; the exit
// code follows drbdsetup (17 for no UpToDate data, 11 otherwise).
func stateFailure(obj string, code int) *failure {
	exit := 11
	if code == ssNoUpToDate {
		exit = 17
	}
	return &failure{exit: exit, stderr: fmt.Sprintf("%s: State change failed: (%d) %s\n", obj, code, stateText[code])}
}

// localFailure is a drbdsetup or drbdmeta error without a kernel code
// (exit 20), such as usage errors.
func localFailure(format string, args ...any) *failure {
	return &failure{exit: 20, stderr: fmt.Sprintf(format, args...) + "\n"}
}

// notSimulated refuses a command the simulator does not model.
func notSimulated(line string) *failure {
	return localFailure("drbdsim: %q is not simulated (see the drbdsim package documentation)", line)
}
