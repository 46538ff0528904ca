package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/piraeusctl/piraeusctl/agent/drbd"
	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
	"github.com/piraeusctl/piraeusctl/hostexec"
)

// DefaultProcDRBD is where the kernel's DRBD module tells its version.
const DefaultProcDRBD = "/proc/drbd"

// drbdVersion reads the loaded module's version. Without the module (no
// /proc/drbd) DRBD 9 is assumed: its commands then fail on their own.
func (a *Agent) drbdVersion() drbd.Version {
	path := a.cfg.ProcDRBD
	if path == "" {
		path = DefaultProcDRBD
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return drbd.Version{Major: 9}
	}
	if err == nil {
		var v drbd.Version
		if v, err = drbd.ParseProcDRBD(data); err == nil {
			return v
		}
	}
	a.log.Warn("cannot read the DRBD version; assuming DRBD 9", "path", path, "error", err)
	return drbd.Version{Major: 9}
}

// renderRes writes the resource file in the syntax of the kernel's DRBD;
// on 8.4 it refuses what 8.4 cannot do, naming the version and feature.
func (a *Agent) renderRes(f *drbd.ResFile) ([]byte, error) {
	if v := a.drbdVersion(); v.Is84() {
		return drbd.Render84(f, v)
	}
	return drbd.Render(f)
}

func (a *Agent) createMD(adm drbd.Admin, vol, maxPeers uint32) hostexec.Cmd {
	if a.drbdVersion().Is84() {
		return adm.CreateMD84(vol)
	}
	return adm.CreateMD(vol, maxPeers)
}

func (a *Agent) metadataDiskState(minor uint32, disk string) hostexec.Cmd {
	if a.drbdVersion().Is84() {
		return drbd.MetadataDiskState84(minor, disk)
	}
	return drbd.MetadataDiskState(minor, disk)
}

// resizeBlocked says why DRBD cannot resize r now: no DRBD resizes during
// a resync, and 8.4 resizes only while one of the two nodes is Primary.
func (a *Agent) resizeBlocked(r drbd.Resource) string {
	if r.Resyncing() {
		return "DRBD resizes only when no resync runs: waiting for the resync to finish"
	}
	if !a.drbdVersion().Is84() || r.Role == "Primary" {
		return ""
	}
	for _, c := range r.Connections {
		if c.PeerRole == "Primary" {
			return ""
		}
	}
	return "DRBD 8.4 resizes only while a node is Primary: waiting for one to resize"
}

// readKernel reads DRBD's state of all resources: `drbdsetup status
// --json` on DRBD 9; on 8.4 (no --json) `drbdsetup events2 --now`, device
// sizes from sysfs and peer names from the resource files.
func (a *Agent) readKernel(ctx context.Context, exec hostexec.Executor, names ...string) (map[string]drbd.Resource, error) {
	if !a.drbdVersion().Is84() {
		return readKernel(ctx, exec, names...)
	}
	res, err := exec.Run(ctx, drbd.EventsNow(names...))
	if err != nil {
		return nil, fmt.Errorf("read DRBD state: %w", err)
	}
	list, err := drbd.ParseEvents2(bytes.NewReader(res.Stdout))
	if err != nil {
		return nil, err
	}
	out := make(map[string]drbd.Resource, len(list))
	for _, r := range list {
		if err := a.complete84(ctx, exec, &r); err != nil {
			return nil, err
		}
		out[r.Name] = r
	}
	return out, nil
}

// complete84 adds what 8.4's events2 lacks: device sizes and the peer's name.
func (a *Agent) complete84(ctx context.Context, exec hostexec.Executor, r *drbd.Resource) error {
	for i := range r.Devices {
		res, err := exec.Run(ctx, drbd.DeviceSectors(r.Devices[i].Minor))
		if err != nil {
			return fmt.Errorf("read size of DRBD device %d: %w", r.Devices[i].Minor, err)
		}
		if r.Devices[i].SizeKiB, err = drbd.ParseSectors(res.Stdout); err != nil {
			return err
		}
	}
	peer := ""
	if data, err := os.ReadFile(a.resPath(r.Name)); err == nil {
		if names := drbd.PeerNames84(data, a.cfg.NodeName); len(names) == 1 {
			peer = names[0]
		}
	}
	drbd.Name84(r, peer)
	return nil
}

// kernelSupports refuses, before anything is created, a DRBD resource the
// kernel's DRBD cannot run (on 8.4: more than two replicas, diskless
// replicas, quorum, several paths).
func (a *Agent) kernelSupports(r *agentv1.Resource) error {
	if !usesDRBD(r) {
		return nil
	}
	v := a.drbdVersion()
	if !v.Is84() {
		return nil
	}
	f := &drbd.ResFile{Node: a.cfg.NodeName, Name: r.GetName(), DRBD: r.GetDrbd()}
	for _, vol := range r.GetVolumes() {
		dv := drbd.Volume{Number: vol.GetNumber(), Minor: vol.GetMinor()}
		if !vol.GetDiskless() {
			dv.Disk = "/dev/backing" // only presence matters to the check
		}
		f.Volumes = append(f.Volumes, dv)
	}
	if err := drbd.Check84(f, v); err != nil {
		return &InvalidError{Err: err}
	}
	return nil
}
