package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/piraeusctl/piraeusctl/agent/drbd"
	"github.com/piraeusctl/piraeusctl/agent/storage"
	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
	"github.com/piraeusctl/piraeusctl/hostexec"
)

// DeleteResource removes a resource (or volumes of a storage-only resource)
// from this node. Before anything is touched, every object found under the
// resource's name must carry the request's uid; otherwise nothing happens.
func (a *Agent) DeleteResource(ctx context.Context, req *agentv1.DeleteResourceRequest) (*agentv1.DeleteResourceResult, error) {
	if req.GetNodeName() != a.cfg.NodeName {
		return nil, invalid("delete request is for node %q, this agent serves %q", req.GetNodeName(), a.cfg.NodeName)
	}
	if _, _, ok := storage.ParseVolumeName(storage.VolumeName(req.GetName(), 0)); !ok || !storage.ValidUID(req.GetUid()) {
		return nil, invalid("delete request: resource name %q or uid %q invalid", req.GetName(), req.GetUid())
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	defer a.remember(nil)

	exec := &counting{next: a.cfg.Exec}
	d := &deletion{agent: a, exec: exec, req: req, result: &agentv1.DeleteResourceResult{}}
	err := d.run(ctx)
	d.result.CommandsRun, d.result.MutatingCommandsRun = exec.total.Load(), exec.mutating.Load()
	if err != nil {
		return d.result, err
	}
	a.log.InfoContext(ctx, "deleted resource", "resource", req.GetName(), "uid", req.GetUid(), "actions", d.result.Actions)
	return d.result, nil
}

type deletion struct {
	agent  *Agent
	exec   *counting
	req    *agentv1.DeleteResourceRequest
	result *agentv1.DeleteResourceResult
}

// target is one backing volume to remove.
type target struct {
	pool *pool
	vol  storage.Volume
}

func (d *deletion) run(ctx context.Context) error {
	targets, err := d.findVolumes(ctx)
	if err != nil {
		return err
	}
	file, hasFile, err := d.resFile()
	if err != nil {
		return err
	}
	if hasFile && len(d.req.GetVolumeNumbers()) > 0 {
		return invalid("resource %s has the DRBD layer: delete it whole, and change its volumes through Apply", d.req.GetName())
	}
	if hasFile {
		if err := d.drbdDown(ctx, targets); err != nil {
			return err
		}
	}
	for _, t := range targets {
		if err := t.pool.provider.Delete(ctx, t.vol); err != nil {
			return err
		}
		d.did("delete volume %d in pool %s", t.vol.Number, t.pool.spec.GetName())
	}
	if hasFile {
		if err := os.Remove(file.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", file.path, err)
		}
		d.did("remove %s", file.path)
	}
	return nil
}

func (d *deletion) did(format string, args ...any) {
	d.result.Actions = append(d.result.Actions, fmt.Sprintf(format, args...))
}

// findVolumes lists the resource's backing volumes in the given pools and
// checks that all of them carry the uid.
func (d *deletion) findVolumes(ctx context.Context) ([]target, error) {
	var out []target
	for _, spec := range d.req.GetStoragePools() {
		p, _ := openPool(ctx, spec, d.exec, false)
		if p.err != nil {
			return nil, fmt.Errorf("delete %s: %w", d.req.GetName(), p.err)
		}
		for _, name := range sortedKeys(p.volumes) {
			v := p.volumes[name]
			if v.Resource != d.req.GetName() || !d.wanted(v.Number) {
				continue
			}
			if v.UID != d.req.GetUid() {
				return nil, &ConflictError{Err: fmt.Errorf("delete %s: volume %s in pool %s belongs to uid %q, not %q: nothing deleted",
					d.req.GetName(), v.Name, spec.GetName(), v.UID, d.req.GetUid())}
			}
			out = append(out, target{pool: p, vol: v})
		}
	}
	return out, nil
}

func (d *deletion) wanted(n uint32) bool {
	return len(d.req.GetVolumeNumbers()) == 0 || slices.Contains(d.req.GetVolumeNumbers(), n)
}

func (d *deletion) resFile() (resFile, bool, error) {
	files, err := d.agent.readResFiles()
	if err != nil {
		return resFile{}, false, err
	}
	f, ok := files[d.req.GetName()]
	if ok && f.uid != d.req.GetUid() {
		return f, true, &ConflictError{Err: fmt.Errorf("delete %s: DRBD config %s belongs to uid %q, not %q: nothing deleted",
			d.req.GetName(), f.path, f.uid, d.req.GetUid())}
	}
	return f, ok, nil
}

// drbdDown takes the resource down and wipes the metadata of its volumes
// (those whose device is present; the others go with their backing
// volume). A volume DRBD runs diskless while its backing volume is still
// there (a replica that went diskless, its disk detached) has no disk in
// the resource file: drbdmeta wipes it on the device, with the minor the
// kernel had; unknown (the resource was down), it goes with its volume.
func (d *deletion) drbdDown(ctx context.Context, targets []target) error {
	kernel, err := d.agent.readKernel(ctx, d.exec)
	if err != nil {
		return err
	}
	adm := drbd.Admin{Node: d.agent.cfg.NodeName, ConfFile: d.agent.resPath(d.req.GetName()), Resource: d.req.GetName()}
	res, up := kernel[d.req.GetName()]
	if up {
		if err := d.do(ctx, adm.Down(), "down"); err != nil {
			return err
		}
	}
	for _, t := range targets {
		if t.vol.DevicePath == "" {
			continue
		}
		action := fmt.Sprintf("wipe-md volume %d", t.vol.Number)
		if dev, ok := res.Device(int(t.vol.Number)); ok && dev.DiskState == "Diskless" {
			if err := d.do(ctx, drbd.WipeMDOn(uint32(dev.Minor), t.vol.DevicePath), action+" (detached)"); err != nil {
				return err
			}
			continue
		}
		out, err := d.exec.Run(ctx, adm.WipeMD(t.vol.Number))
		if err != nil && strings.Contains(string(out.Stderr)+string(out.Stdout), "the configuration gives none") {
			continue // detached while down: its metadata goes with the volume
		}
		if err != nil {
			return err
		}
		d.did("%s", action)
	}
	return nil
}

func (d *deletion) do(ctx context.Context, cmd hostexec.Cmd, action string) error {
	if _, err := d.exec.Run(ctx, cmd); err != nil {
		return err
	}
	d.did("%s", action)
	return nil
}
