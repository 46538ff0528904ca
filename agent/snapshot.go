package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/piraeusctl/piraeusctl/agent/drbd"
	"github.com/piraeusctl/piraeusctl/agent/storage"
	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
)

// snapshotKey names a snapshot within a node: resource/name.
func snapshotKey(resource, name string) string { return resource + "/" + name }

// validateSnapshots checks the desired snapshots and restore sources.
func validateSnapshots(d *agentv1.NodeDesiredState, pools map[string]bool) error {
	seen := map[string]bool{}
	for _, s := range d.GetSnapshots() {
		key := snapshotKey(s.GetResource(), s.GetName())
		if !validResourceName(s.GetResource()) || !storage.ValidSnapshotName(s.GetName()) || seen[key] {
			return invalid("snapshot %q: resource or snapshot name invalid or repeated", key)
		}
		seen[key] = true
		if !storage.ValidUID(s.GetUid()) || !storage.ValidUID(s.GetResourceUid()) {
			return invalid("snapshot %s: uid %q or resource uid %q: want 1-64 of [A-Za-z0-9-]", key, s.GetUid(), s.GetResourceUid())
		}
		if len(s.GetVolumes()) == 0 {
			return invalid("snapshot %s: no volumes", key)
		}
		for _, v := range s.GetVolumes() {
			if !pools[v.GetStoragePool()] {
				return invalid("snapshot %s: volume %d: storage pool %q is not in the desired state", key, v.GetNumber(), v.GetStoragePool())
			}
		}
	}
	for _, r := range d.GetResources() {
		src := r.GetRestoreFrom()
		if src == nil {
			continue
		}
		if !validResourceName(src.GetResource()) || !storage.ValidSnapshotName(src.GetSnapshot()) || !storage.ValidUID(src.GetUid()) {
			return invalid("resource %s: restore source %s/%s (uid %q) invalid", r.GetName(), src.GetResource(), src.GetSnapshot(), src.GetUid())
		}
	}
	return nil
}

func validResourceName(name string) bool {
	_, _, ok := storage.ParseVolumeName(storage.VolumeName(name, 0))
	return ok
}

// snapshots takes the desired snapshots that are missing (take set), after
// the resources converged. Present snapshots cost no command.
func (c *converge) snapshots(ctx context.Context) {
	errs := map[string]string{}
	for _, s := range c.desired.GetSnapshots() {
		r := c.snapshot(ctx, s)
		if r.Outcome == agentv1.Outcome_FAILED {
			errs[snapshotKey(s.GetResource(), s.GetName())] = r.Message
			c.agent.log.ErrorContext(ctx, "snapshot", "resource", s.GetResource(), "snapshot", s.GetName(), "error", r.Message)
		}
		c.result.Snapshots = append(c.result.Snapshots, r)
	}
	c.agent.setSnapshotErrors(errs)
}

// snapshotPart is one volume of a desired snapshot as found on the host.
type snapshotPart struct {
	pool   *pool
	number uint32
	name   string // snapshot volume name
}

func (c *converge) snapshot(ctx context.Context, s *agentv1.Snapshot) *agentv1.SnapshotResult {
	res := &agentv1.SnapshotResult{Resource: s.GetResource(), Name: s.GetName(), Outcome: agentv1.Outcome_UNCHANGED}
	missing, err := c.missingSnapshotParts(s)
	if err == nil && len(missing) > 0 {
		err = c.takeSnapshot(ctx, s, missing)
		res.Outcome = agentv1.Outcome_CHANGED
		res.Message = fmt.Sprintf("taken of %d volume(s)", len(missing))
	}
	if err != nil {
		res.Outcome, res.Message = agentv1.Outcome_FAILED, err.Error()
	}
	return res
}

// missingSnapshotParts lists the volumes of s not snapshotted yet; a
// snapshot volume with another uid is a conflict.
func (c *converge) missingSnapshotParts(s *agentv1.Snapshot) ([]snapshotPart, error) {
	var missing []snapshotPart
	for _, v := range s.GetVolumes() {
		p := c.host.pools[v.GetStoragePool()]
		if p.err != nil {
			return nil, fmt.Errorf("storage pool %s is not usable: %w", p.spec.GetName(), p.err)
		}
		name := storage.SnapshotVolumeName(s.GetResource(), v.GetNumber(), s.GetName())
		got, ok := p.snapshots[name]
		switch {
		case ok && got.UID != s.GetUid():
			return nil, &ConflictError{Err: fmt.Errorf("snapshot volume %s in pool %s belongs to uid %q, not %q", name, p.spec.GetName(), got.UID, s.GetUid())}
		case !ok:
			missing = append(missing, snapshotPart{pool: p, number: v.GetNumber(), name: name})
		}
	}
	if len(missing) > 0 && !s.GetTake() {
		return nil, fmt.Errorf("snapshot %s of %s is missing on this node (%s) and is not to be taken again", s.GetName(), s.GetResource(), missing[0].name)
	}
	return missing, nil
}

// takeSnapshot snapshots the missing volumes; a resource that is up in DRBD
// has its I/O suspended around them (drbdadm suspend-io / resume-io).
func (c *converge) takeSnapshot(ctx context.Context, s *agentv1.Snapshot, parts []snapshotPart) (err error) {
	origins := make([]storage.Volume, len(parts))
	for i, part := range parts {
		v, ok := part.pool.volumes[storage.VolumeName(s.GetResource(), part.number)]
		if !ok || v.UID != s.GetResourceUid() {
			return fmt.Errorf("volume %d of %s (uid %s) is not in pool %s on this node", part.number, s.GetResource(), s.GetResourceUid(), part.pool.spec.GetName())
		}
		origins[i] = v
	}
	if _, up := c.host.kernel[s.GetResource()]; up {
		adm := drbd.Admin{Node: c.agent.cfg.NodeName, ConfFile: c.agent.resPath(s.GetResource()), Resource: s.GetResource()}
		if _, err := c.exec.Run(ctx, adm.SuspendIO()); err != nil {
			return fmt.Errorf("suspend I/O of %s: %w", s.GetResource(), err)
		}
		defer func() {
			if _, rerr := c.exec.Run(context.WithoutCancel(ctx), adm.ResumeIO()); rerr != nil {
				err = errors.Join(err, fmt.Errorf("resume I/O of %s: %w", s.GetResource(), rerr))
			}
		}()
	}
	for i, part := range parts {
		snap, err := part.pool.provider.TakeSnapshot(ctx, origins[i], s.GetName(), s.GetUid())
		if err != nil {
			return err
		}
		part.pool.snapshots[snap.Name] = snap
	}
	return nil
}

// restoreVolume creates a resource's missing backing volume from its
// restore source, which must be on this node in the same pool.
func (c *converge) restoreVolume(ctx context.Context, r *agentv1.Resource, v *agentv1.Volume, p *pool) (storage.Volume, error) {
	src := r.GetRestoreFrom()
	name := storage.SnapshotVolumeName(src.GetResource(), v.GetNumber(), src.GetSnapshot())
	snap, ok := p.snapshots[name]
	if !ok {
		return storage.Volume{}, fmt.Errorf("volume %d: snapshot %s/%s to restore from is not in pool %s on this node",
			v.GetNumber(), src.GetResource(), src.GetSnapshot(), p.spec.GetName())
	}
	if snap.UID != src.GetUid() {
		return storage.Volume{}, &ConflictError{Err: fmt.Errorf("volume %d: snapshot %s in pool %s belongs to uid %q, not %q: refusing to restore from it",
			v.GetNumber(), name, p.spec.GetName(), snap.UID, src.GetUid())}
	}
	return p.provider.Restore(ctx, snap, storage.VolumeName(r.GetName(), v.GetNumber()), r.GetUid())
}

// setSnapshotErrors keeps the last Apply's snapshot errors for status.
func (a *Agent) setSnapshotErrors(errs map[string]string) {
	a.stateMu.Lock()
	defer a.stateMu.Unlock()
	a.snapErrors = errs
}

func (a *Agent) snapshotErrors() map[string]string {
	a.stateMu.Lock()
	defer a.stateMu.Unlock()
	return a.snapErrors
}

// snapshotStatuses reports every desired snapshot and every snapshot found
// on the host, sorted by resource and name.
func snapshotStatuses(desired *agentv1.NodeDesiredState, h host, errs map[string]string) []*agentv1.SnapshotStatus {
	byKey := map[string]*agentv1.SnapshotStatus{}
	wantVols := map[string]int{}
	for _, s := range desired.GetSnapshots() {
		key := snapshotKey(s.GetResource(), s.GetName())
		byKey[key] = &agentv1.SnapshotStatus{Resource: s.GetResource(), Name: s.GetName(), Uid: s.GetUid(), Error: errs[key]}
		wantVols[key] = len(s.GetVolumes())
	}
	bad := map[string]bool{}
	for _, poolName := range sortedKeys(h.pools) {
		for _, sv := range h.pools[poolName].snapshots {
			key := snapshotKey(sv.Resource, sv.Snapshot)
			st, ok := byKey[key]
			if !ok {
				st = &agentv1.SnapshotStatus{Resource: sv.Resource, Name: sv.Snapshot, Uid: sv.UID}
				byKey[key] = st
			}
			if sv.UID != st.Uid {
				bad[key] = true
				continue
			}
			st.Volumes = append(st.Volumes, sv.Number)
		}
	}
	out := make([]*agentv1.SnapshotStatus, 0, len(byKey))
	for _, key := range sortedKeys(byKey) {
		st := byKey[key]
		slices.Sort(st.Volumes)
		want, desiredSnap := wantVols[key]
		if !desiredSnap {
			want = len(st.Volumes)
		}
		st.Taken = !bad[key] && len(st.Volumes) > 0 && len(st.Volumes) >= want
		out = append(out, st)
	}
	return out
}

// snapshotOrphans lists snapshot volumes the desired state does not claim.
func snapshotOrphans(d *agentv1.NodeDesiredState, h host) []*agentv1.Orphan {
	claimed := map[string]bool{}
	for _, s := range d.GetSnapshots() {
		for _, v := range s.GetVolumes() {
			claimed[v.GetStoragePool()+"/"+storage.SnapshotVolumeName(s.GetResource(), v.GetNumber(), s.GetName())] = true
		}
	}
	var out []*agentv1.Orphan
	for _, poolName := range sortedKeys(h.pools) {
		p := h.pools[poolName]
		for _, name := range sortedKeys(p.snapshots) {
			if !claimed[poolName+"/"+name] {
				sv := p.snapshots[name]
				out = append(out, &agentv1.Orphan{Kind: agentv1.Orphan_SNAPSHOT, Resource: sv.Resource, StoragePool: poolName, Object: sv.Object, Uid: sv.UID})
			}
		}
	}
	return out
}

// DeleteSnapshot removes one snapshot from this node. Every snapshot volume
// found under its name must carry the request's uid; otherwise nothing is
// deleted.
func (a *Agent) DeleteSnapshot(ctx context.Context, req *agentv1.DeleteSnapshotRequest) (*agentv1.DeleteSnapshotResult, error) {
	if req.GetNodeName() != a.cfg.NodeName {
		return nil, invalid("delete snapshot request is for node %q, this agent serves %q", req.GetNodeName(), a.cfg.NodeName)
	}
	if !validResourceName(req.GetResource()) || !storage.ValidSnapshotName(req.GetName()) || !storage.ValidUID(req.GetUid()) {
		return nil, invalid("delete snapshot request: resource %q, snapshot %q or uid %q invalid", req.GetResource(), req.GetName(), req.GetUid())
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	defer a.remember(nil)
	exec := &counting{next: a.cfg.Exec}
	res := &agentv1.DeleteSnapshotResult{}
	var targets []snapshotTarget
	for _, spec := range req.GetStoragePools() {
		p, _ := openPool(ctx, spec, exec, false)
		if p.err != nil {
			return nil, fmt.Errorf("delete snapshot %s: %w", snapshotKey(req.GetResource(), req.GetName()), p.err)
		}
		for _, name := range sortedKeys(p.snapshots) {
			sv := p.snapshots[name]
			if sv.Resource != req.GetResource() || sv.Snapshot != req.GetName() {
				continue
			}
			if sv.UID != req.GetUid() {
				return nil, &ConflictError{Err: fmt.Errorf("delete snapshot %s: %s in pool %s belongs to uid %q, not %q: nothing deleted",
					snapshotKey(req.GetResource(), req.GetName()), name, spec.GetName(), sv.UID, req.GetUid())}
			}
			targets = append(targets, snapshotTarget{pool: p, snap: sv})
		}
	}
	for _, t := range targets {
		if err := t.pool.provider.DeleteSnapshot(ctx, t.snap); err != nil {
			res.CommandsRun, res.MutatingCommandsRun = exec.total, exec.mutating
			return res, err
		}
		res.Actions = append(res.Actions, fmt.Sprintf("delete snapshot volume %d in pool %s", t.snap.Number, t.pool.spec.GetName()))
	}
	res.CommandsRun, res.MutatingCommandsRun = exec.total, exec.mutating
	a.log.InfoContext(ctx, "deleted snapshot", "resource", req.GetResource(), "snapshot", req.GetName(), "uid", req.GetUid(),
		"actions", strings.Join(res.Actions, "; "))
	return res, nil
}

type snapshotTarget struct {
	pool *pool
	snap storage.Snapshot
}
