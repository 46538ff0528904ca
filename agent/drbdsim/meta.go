package drbdsim

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/piraeusctl/piraeusctl/hostexec"
)

// Internal metadata of DRBD 9 (drbdmeta's v09 "flexible-size internal"
// layout) sits at the end of the backing device: a 4 KiB superblock, the
// activity log (32 KiB by default) and one bitmap per peer slot of one bit
// per 4 KiB of the device, in 64-bit words, the bitmaps together rounded
// up to 4 KiB. The data area ends where the bitmaps begin.
const (
	superblockBytes  = 4 << 10
	activityLogBytes = 32 << 10
)

// usableBytes is the data area of a device of devBytes with metadata for
// maxPeers peers; 0 when the device is too small.
func usableBytes(devBytes uint64, maxPeers int) uint64 {
	if maxPeers < 1 {
		maxPeers = 1
	}
	words := ((devBytes+4095)/4096 + 63) / 64
	bitmap := (words*8*uint64(maxPeers) + 4095) &^ 4095
	md := superblockBytes + activityLogBytes + bitmap
	end := devBytes &^ 4095
	if end <= md {
		return 0
	}
	return end - md
}

// deviceBytes asks the host for a block device's size.
func (s *Sim) deviceBytes(ctx context.Context, dev string) (uint64, error) {
	res, err := s.cfg.Next.Run(ctx, hostexec.Read("blockdev", "--getsize64", dev))
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(res.Stdout)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("blockdev --getsize64 %s printed %q", dev, res.Stdout)
	}
	return n, nil
}

// usableKiB is the data area of dev in KiB.
func (s *Sim) usableKiB(ctx context.Context, dev string, maxPeers int) (uint64, error) {
	n, err := s.deviceBytes(ctx, dev)
	if err != nil {
		return 0, err
	}
	u := usableBytes(n, maxPeers)
	if u == 0 {
		return 0, fmt.Errorf("%s is only %d bytes", dev, n)
	}
	return u / 1024, nil
}

// admContext is the drbdadm command a drbdmeta line came from.
type admContext struct {
	res string
	// vol is the volume named by the command (res/vol), or -1.
	vol int
	// volOf maps a minor of res to its volume number.
	volOf func(minor int) (int, error)
}

// meta runs one drbdmeta command: `drbdmeta [--force] MINOR v09 DEV
// internal VERB [ARGS]`. The metadata is kept in the node's file of the
// resource the minor belongs to.
func (s *Sim) meta(ctx context.Context, args []string, adm *admContext) (outcome, error) {
	var pos []string
	force, nodeID := false, ""
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--force" || a == "-f":
			force = true
		case a == "--node-id" && i+1 < len(args):
			nodeID = args[i+1]
			i++
		case strings.HasPrefix(a, "--node-id="):
			nodeID = strings.TrimPrefix(a, "--node-id=")
		case strings.HasPrefix(a, "-"):
		default:
			pos = append(pos, a)
		}
	}
	line := hostexec.Cmd{Name: "drbdmeta", Args: args}.Line()
	if len(pos) < 5 {
		return failed(localFailure("USAGE: drbdmeta [--force] MINOR v09 DEVICE internal COMMAND")), nil
	}
	minor, err := strconv.Atoi(pos[0])
	if err != nil {
		return failed(localFailure("'%s' is not a valid minor number", pos[0])), nil
	}
	if pos[1] != "v09" {
		return failed(localFailure("Unknown format '%s'.", pos[1])), nil
	}
	if pos[3] != "internal" {
		return failed(notSimulated(line)), nil
	}
	dev, verb := pos[2], pos[4]
	devBytes, err := s.deviceBytes(ctx, dev)
	if err != nil {
		var ee *hostexec.ExitError
		if errors.As(err, &ee) {
			return failed(localFailure("open(%s) failed: No such file or directory", dev)), nil
		}
		return outcome{}, err
	}
	res, number, err := s.metaVolume(minor, verb, adm)
	if err != nil {
		return outcome{}, err
	}
	if res == "" {
		if verb == "create-md" {
			return failed(localFailure("drbdsim: drbdmeta create-md of minor %d outside drbdadm: unknown resource", minor)), nil
		}
		return failed(&failure{exit: 1, stderr: "No valid meta data found\n"}), nil
	}
	var out outcome
	f, err := s.withResource(res, func(c *cluster, me *nodeState) *failure {
		m := metaCtx{me: me, minor: minor, dev: dev, devBytes: devBytes, force: force, number: number}
		var f *failure
		out, f = m.run(verb, pos[5:], nodeID, line)
		return f
	})
	out.fail = f
	return out, err
}

// metaVolume finds the resource and volume number a drbdmeta command on
// minor is about: from the drbdadm command it came from, else from the
// node's files; a new volume's number is asked from drbdadm.
func (s *Sim) metaVolume(minor int, verb string, adm *admContext) (string, int, error) {
	res, number := "", -1
	if adm != nil {
		res, number = adm.res, adm.vol
	}
	if res == "" {
		var err error
		if res, err = s.resourceOfMinor(minor, false); err != nil || res == "" {
			return "", -1, err
		}
	}
	if verb != "create-md" || number >= 0 {
		return res, number, nil
	}
	nodes, _, err := s.store.load(res)
	if err != nil {
		return "", -1, err
	}
	if n := nodes[s.cfg.Node]; n != nil && n.volumeByMinor(minor) != nil {
		return res, n.volumeByMinor(minor).Number, nil
	}
	if adm == nil || adm.volOf == nil {
		return "", -1, nil
	}
	number, err = adm.volOf(minor)
	return res, number, err
}

type metaCtx struct {
	me       *nodeState
	minor    int
	dev      string
	devBytes uint64
	force    bool
	number   int
}

func (m metaCtx) run(verb string, args []string, nodeID, line string) (outcome, *failure) {
	v := m.me.volumeByMinor(m.minor)
	configured := localFailure("Device '%d' is configured!", m.minor)
	noMD := &failure{exit: 1, stderr: "No valid meta data found\n"}
	switch verb {
	case "create-md":
		return m.createMD(v, args)
	case "wipe-md":
		if v != nil && v.Disk != "" {
			return outcome{}, configured
		}
		if v == nil || v.MD == nil {
			return outcome{stderr: "There appears to be no drbd meta data to wipe out?\n"}, nil
		}
		v.MD = nil
		if !v.InKernel {
			m.me.Volumes = deleteVolume(m.me.Volumes, v)
		}
		return outcome{stdout: "Wiping meta data...\nDRBD meta data block successfully wiped out.\n"}, nil
	case "apply-al":
		switch {
		case v != nil && v.Disk != "":
			return outcome{}, configured
		case v == nil || v.MD == nil:
			return outcome{}, noMD
		}
		return outcome{}, nil
	case "dstate":
		if v == nil || v.MD == nil {
			return outcome{}, noMD
		}
		if v.MD.State == "UpToDate" {
			return outcome{stdout: "Consistent\n"}, nil
		}
		return outcome{stdout: v.MD.State + "\n"}, nil
	case "get-gi":
		if nodeID == "" {
			return outcome{}, &failure{exit: 10, stderr: "The get-gi command requires the --node-id option\n"}
		}
		if v == nil || v.MD == nil {
			return outcome{}, noMD
		}
		return outcome{stdout: gi(v.MD) + "\n"}, nil
	case "check-resize":
		return outcome{}, nil
	}
	return outcome{}, notSimulated(line)
}

func (m metaCtx) createMD(v *volume, args []string) (outcome, *failure) {
	if len(args) < 1 {
		return outcome{}, localFailure("MAX_PEERS argument missing")
	}
	maxPeers, err := strconv.Atoi(args[0])
	if err != nil || maxPeers < 1 || maxPeers > 31 {
		return outcome{}, &failure{exit: 10, stderr: "MAX_PEERS argument not in allowed range 1 .. 31.\n"}
	}
	if v != nil && v.Disk != "" {
		return outcome{}, localFailure("Device '%d' is configured!", m.minor)
	}
	if usableBytes(m.devBytes, maxPeers) == 0 {
		return outcome{}, &failure{exit: 10, stderr: fmt.Sprintf("%s is only %d bytes. That's not enough.\n", m.dev, m.devBytes)}
	}
	if v != nil && v.MD != nil && !m.force {
		return outcome{}, &failure{exit: 1, stderr: "Do you really want to overwrite the existing meta-data?\nOperation canceled.\n"}
	}
	if v == nil {
		v = &volume{Number: m.number, Minor: m.minor}
		m.me.Volumes = append(m.me.Volumes, v)
		sortVolumes(m.me.Volumes)
	}
	v.MD = &metadata{Disk: m.dev, MaxPeers: maxPeers, State: "Inconsistent", UUID: justCreated}
	return outcome{stdout: "initializing activity log\nWriting meta data...\nNew drbd meta data block successfully created.\n"}, nil
}

// gi renders metadata as `drbdmeta get-gi` does: current, bitmap and two
// history UUIDs, then the flags.
func gi(md *metadata) string {
	hist := []string{"0000000000000000", "0000000000000000"}
	copy(hist, md.History)
	consistent, uptodate := "0", "0"
	if md.State == "UpToDate" {
		consistent, uptodate = "1", "1"
	}
	return strings.Join([]string{md.UUID, "0000000000000000", hist[0], hist[1], consistent, uptodate, "0:0:1:0:0:0:0:0:0:1"}, ":")
}
