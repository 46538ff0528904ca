package agent

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/piraeusctl/piraeusctl/agent/drbd"
	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
	"github.com/piraeusctl/piraeusctl/hostexec"
)

func drbdGross(netKiB uint64, maxPeers uint32) uint64 { return drbd.GrossSizeKiB(netKiB, maxPeers) }

func (c *converge) admin(name string) drbd.Admin {
	return drbd.Admin{Node: c.agent.cfg.NodeName, ConfFile: c.agent.resPath(name), Resource: name}
}

// drbdSteps writes the resource file and brings DRBD to it: metadata, up or
// adjust, resize, and the initial sync decision.
func (c *converge) drbdSteps(ctx context.Context, r *agentv1.Resource, vols []local, s *step) error {
	if f, ok := c.host.resFile(r.GetName()); ok && f.uid != r.GetUid() {
		return &ConflictError{Err: fmt.Errorf("DRBD config %s belongs to uid %q, not %q: refusing to change it", f.path, f.uid, r.GetUid())}
	}
	file := &drbd.ResFile{Node: c.agent.cfg.NodeName, UID: r.GetUid(), Name: r.GetName(), DRBD: r.GetDrbd()}
	for _, l := range vols {
		v := drbd.Volume{Number: l.spec.GetNumber(), Minor: l.spec.GetMinor()}
		if l.backing != nil {
			v.Disk = l.backing.DevicePath
		}
		file.Volumes = append(file.Volumes, v)
	}
	data, err := c.agent.renderRes(file)
	if err != nil {
		return &InvalidError{Err: err}
	}
	written, err := c.writeIfChanged(r.GetName(), data)
	if err != nil {
		return err
	}
	if written {
		s.did("write %s", c.agent.resPath(r.GetName()))
	}
	adm := c.admin(r.GetName())
	kernel, up := c.host.kernelOf(r.GetName())
	if err := c.ensureMetadata(ctx, adm, vols, kernel, s); err != nil {
		return err
	}
	if !up {
		if err := c.do(ctx, adm.Up(), s, "up"); err != nil {
			return err
		}
		if kernel, err = c.reread(ctx, r.GetName()); err != nil {
			return err
		}
	} else {
		if err := c.adjust(ctx, adm, written, s); err != nil {
			return err
		}
		if err := c.resize(ctx, adm, vols, kernel, s); err != nil {
			return err
		}
	}
	return c.initialSync(ctx, adm, r, vols, kernel, s)
}

func (c *converge) do(ctx context.Context, cmd hostexec.Cmd, s *step, action string) error {
	if _, err := c.exec.Run(ctx, cmd); err != nil {
		return err
	}
	s.did("%s", action)
	return nil
}

// reread reads one resource's kernel state after a change (that resource
// only: rereading all of them after each would make a burst quadratic).
func (c *converge) reread(ctx context.Context, name string) (drbd.Resource, error) {
	k, err := c.agent.readKernel(ctx, c.exec, name)
	if err != nil {
		return drbd.Resource{}, err
	}
	r, ok := k[name]
	c.host.setKernel(name, r, ok)
	return r, nil
}

// ensureMetadata creates metadata on diskful volumes that have none: new
// volumes always, existing unattached ones when drbdmeta finds no valid
// metadata (a converge that stopped between creating the volume and create-md).
func (c *converge) ensureMetadata(ctx context.Context, adm drbd.Admin, vols []local, kernel drbd.Resource, s *step) error {
	for _, l := range vols {
		if l.backing == nil {
			continue
		}
		if dev, ok := kernel.Device(int(l.spec.GetNumber())); ok && dev.DiskState != "Diskless" {
			continue // attached: DRBD is using its metadata
		}
		if !l.created {
			res, err := c.exec.Run(ctx, c.agent.metadataDiskState(l.spec.GetMinor(), l.backing.DevicePath))
			if err == nil {
				continue
			}
			if !strings.Contains(string(res.Stderr)+string(res.Stdout), "No valid meta data found") {
				return fmt.Errorf("volume %d: read DRBD metadata: %w", l.spec.GetNumber(), err)
			}
		}
		if err := c.do(ctx, c.agent.createMD(adm, l.spec.GetNumber(), 0), s, fmt.Sprintf("create-md volume %d", l.spec.GetNumber())); err != nil {
			return err
		}
	}
	return nil
}

// adjust applies a changed file; for an unchanged one it asks drbdadm
// (dry run, read-only) whether the kernel drifted from it. A peer that
// goes diskless (an evacuation's DropDisk) may still have its disk when
// this node adjusts: DRBD refuses to drop the bitmap towards it until it
// has detached, so the adjust is pending and runs again at the next Apply.
func (c *converge) adjust(ctx context.Context, adm drbd.Admin, written bool, s *step) error {
	if !written {
		res, err := c.exec.Run(ctx, adm.AdjustDryRun())
		if err != nil {
			return err
		}
		if strings.TrimSpace(string(res.Stdout)) == "" {
			return nil
		}
	}
	res, err := c.exec.Run(ctx, adm.Adjust())
	if err != nil && strings.Contains(string(res.Stderr)+string(res.Stdout), "Can not drop the bitmap when both sides have a disk") {
		s.pending = append(s.pending, "a peer going diskless still has its disk: the bitmap towards it is dropped once it has detached")
		return nil
	}
	if err != nil {
		return err
	}
	s.did("adjust")
	return nil
}

// resize grows DRBD devices whose backing volume grew. It reads DRBD's
// state again first: on DRBD 9 a resize is cluster-wide (DRBD takes the
// smallest backing device of the diskful replicas), so a peer's resize may
// have grown this device meanwhile, and DRBD then resyncs the area it added;
// during a resync DRBD refuses to resize, and the resize waits (pending).
func (c *converge) resize(ctx context.Context, adm drbd.Admin, vols []local, kernel drbd.Resource, s *step) error {
	if !slices.ContainsFunc(vols, func(l local) bool { return needsResize(l, kernel) }) {
		return nil
	}
	kernel, err := c.reread(ctx, adm.Resource)
	if err != nil {
		return err
	}
	for _, l := range vols {
		if !needsResize(l, kernel) {
			continue
		}
		if why := c.agent.resizeBlocked(kernel); why != "" {
			s.pending = append(s.pending, why)
			continue
		}
		res, err := c.exec.Run(ctx, adm.Resize(l.spec.GetNumber()))
		if err != nil && strings.Contains(string(res.Stderr)+string(res.Stdout), "Resize not allowed during resync") {
			s.pending = append(s.pending, fmt.Sprintf("volume %d: DRBD refuses to resize during a resync: resizing after it", l.spec.GetNumber()))
			continue
		}
		if err != nil {
			return err
		}
		s.did("resize volume %d", l.spec.GetNumber())
	}
	return nil
}

// needsResize reports whether the DRBD device of a local diskful volume is
// smaller than wanted.
func needsResize(l local, kernel drbd.Resource) bool {
	dev, ok := kernel.Device(int(l.spec.GetNumber()))
	return ok && l.backing != nil && dev.SizeKiB != 0 && dev.DiskState != "Diskless" && dev.SizeKiB < l.spec.GetSizeKib()
}

// initialSync makes the data start on the initial_primary node: once every
// local diskful volume and every diskful peer is connected and Inconsistent
// (nobody has data yet), either clear the bitmap (all replicas new and thin)
// or force primary and step down again. Anything else means the data
// already exists somewhere, and nothing is forced.
func (c *converge) initialSync(ctx context.Context, adm drbd.Admin, r *agentv1.Resource, vols []local, kernel drbd.Resource, s *step) error {
	d := r.GetDrbd()
	if !d.GetInitialPrimary() || !allLocalInconsistent(vols, kernel) {
		return nil
	}
	diskfulPeers := 0
	for _, p := range d.GetPeers() {
		if p.GetDiskless() {
			continue
		}
		diskfulPeers++
		conn, ok := kernel.Connection(p.GetNodeName())
		if !ok || conn.State != "Connected" {
			s.pending = append(s.pending, fmt.Sprintf("waiting for %s to connect before the initial sync", p.GetNodeName()))
			continue
		}
		for _, pd := range conn.PeerDevices {
			if pd.PeerDiskState != "Inconsistent" {
				return nil // a peer has (or is getting) data: not new
			}
		}
	}
	if len(s.pending) > 0 {
		return nil
	}
	if d.GetSkipInitialSync() && diskfulPeers > 0 {
		for _, l := range vols {
			if l.backing == nil {
				continue
			}
			if err := c.do(ctx, adm.ClearBitmapNewUUID(l.spec.GetNumber()), s, fmt.Sprintf("skip initial sync of volume %d", l.spec.GetNumber())); err != nil {
				return err
			}
		}
		return nil
	}
	if err := c.do(ctx, adm.ForcePrimary(), s, "primary --force (data starts here)"); err != nil {
		return err
	}
	return c.do(ctx, adm.Secondary(), s, "secondary")
}

func allLocalInconsistent(vols []local, kernel drbd.Resource) bool {
	n := 0
	for _, l := range vols {
		if l.backing == nil {
			continue
		}
		dev, ok := kernel.Device(int(l.spec.GetNumber()))
		if !ok || dev.DiskState != "Inconsistent" {
			return false
		}
		n++
	}
	return n > 0
}
