package agent

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/piraeusctl/piraeusctl/agent/storage"
	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
)

// Apply converges the host to the desired state. It fails as a whole only
// for requests that are invalid as given; problems of single pools or
// resources are reported in their results.
func (a *Agent) Apply(ctx context.Context, d *agentv1.NodeDesiredState) (*agentv1.ApplyResult, error) {
	if err := a.validate(d); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	defer a.remember(nil)

	exec := &counting{next: a.cfg.Exec}
	c := &converge{agent: a, exec: exec, desired: d, result: &agentv1.ApplyResult{}}
	if err := c.run(ctx); err != nil {
		return nil, err
	}
	c.result.CommandsRun, c.result.MutatingCommandsRun = exec.total.Load(), exec.mutating.Load()
	a.log.InfoContext(ctx, "applied desired state", "pools", len(d.GetStoragePools()), "resources", len(d.GetResources()),
		"commands", exec.total.Load(), "mutating", exec.mutating.Load(), "orphans", len(c.result.Orphans))
	return c.result, nil
}

func (a *Agent) validate(d *agentv1.NodeDesiredState) error {
	if d.GetNodeName() != a.cfg.NodeName {
		return invalid("desired state is for node %q, this agent serves %q", d.GetNodeName(), a.cfg.NodeName)
	}
	pools := map[string]bool{}
	for _, p := range d.GetStoragePools() {
		if p.GetName() == "" || pools[p.GetName()] {
			return invalid("storage pool name %q empty or repeated", p.GetName())
		}
		pools[p.GetName()] = true
	}
	names := map[string]bool{}
	minors := map[uint32]string{}
	for _, r := range d.GetResources() {
		if _, _, ok := storage.ParseVolumeName(storage.VolumeName(r.GetName(), 0)); !ok || names[r.GetName()] {
			return invalid("resource name %q invalid or repeated", r.GetName())
		}
		names[r.GetName()] = true
		if !storage.ValidUID(r.GetUid()) {
			return invalid("resource %s: uid %q: want 1-64 of [A-Za-z0-9-]", r.GetName(), r.GetUid())
		}
		if err := validateLayers(r); err != nil {
			return &InvalidError{Err: err}
		}
		if err := validateVolumes(r, pools, minors); err != nil {
			return &InvalidError{Err: err}
		}
	}
	return validateSnapshots(d, pools)
}

func validateVolumes(r *agentv1.Resource, pools map[string]bool, minors map[uint32]string) error {
	if len(r.GetVolumes()) == 0 {
		return fmt.Errorf("resource %s: no volumes", r.GetName())
	}
	seen := map[uint32]bool{}
	for _, v := range r.GetVolumes() {
		if seen[v.GetNumber()] || v.GetNumber() > 65534 {
			return fmt.Errorf("resource %s: volume number %d repeated or out of range", r.GetName(), v.GetNumber())
		}
		seen[v.GetNumber()] = true
		if v.GetDiskless() && !usesDRBD(r) {
			return fmt.Errorf("resource %s: volume %d is diskless without the DRBD layer", r.GetName(), v.GetNumber())
		}
		if !v.GetDiskless() && !pools[v.GetStoragePool()] {
			return fmt.Errorf("resource %s: volume %d: storage pool %q is not in the desired state", r.GetName(), v.GetNumber(), v.GetStoragePool())
		}
		if v.GetSizeKib() == 0 {
			return fmt.Errorf("resource %s: volume %d: size 0", r.GetName(), v.GetNumber())
		}
		if usesDRBD(r) {
			if other, ok := minors[v.GetMinor()]; ok {
				return fmt.Errorf("resource %s: volume %d: minor %d also used by %s", r.GetName(), v.GetNumber(), v.GetMinor(), other)
			}
			minors[v.GetMinor()] = r.GetName()
		}
	}
	return nil
}

// converge is one Apply call.
type converge struct {
	agent   *Agent
	exec    *counting
	desired *agentv1.NodeDesiredState
	result  *agentv1.ApplyResult
	host    host
}

func (c *converge) run(ctx context.Context) error {
	c.host.pools = map[string]*pool{}
	for _, spec := range c.desired.GetStoragePools() {
		p, changed := openPool(ctx, spec, c.exec, true)
		c.host.pools[spec.GetName()] = p
		c.result.Pools = append(c.result.Pools, poolResult(p, changed))
	}
	// From here on, status reports against this desired state, and each
	// resource converged wakes the status watchers: a resource ready early
	// in a burst is reported without waiting for the rest.
	c.agent.remember(c.desired)
	files, err := c.agent.readResFiles()
	if err != nil {
		return err
	}
	c.host.resFiles = files
	if c.needKernel() {
		if c.host.kernel, err = c.agent.readKernel(ctx, c.exec); err != nil {
			return err
		}
	}
	c.result.Resources = c.resources(ctx, c.desired.GetResources())
	c.snapshots(ctx)
	c.result.Orphans = orphans(c.desired, &c.host)
	return nil
}

// resources converges each resource, up to the agent's Workers at a time:
// a burst of new volumes does not wait for one another's commands. Results
// keep the order of the desired state.
func (c *converge) resources(ctx context.Context, rs []*agentv1.Resource) []*agentv1.ResourceResult {
	out := make([]*agentv1.ResourceResult, len(rs))
	sem := make(chan struct{}, c.agent.workers())
	var wg sync.WaitGroup
	for i, r := range rs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			out[i] = c.resource(ctx, r)
			if out[i].GetOutcome() == agentv1.Outcome_CHANGED {
				c.agent.remember(nil)
			}
		})
	}
	wg.Wait()
	return out
}

// needKernel: DRBD is asked only when a resource uses it or a resource file
// exists, so storage-only nodes work without the DRBD module.
func (c *converge) needKernel() bool {
	if len(c.host.resFiles) > 0 {
		return true
	}
	return slices.ContainsFunc(c.desired.GetResources(), usesDRBD)
}

func poolResult(p *pool, changed bool) *agentv1.PoolResult {
	r := &agentv1.PoolResult{Name: p.spec.GetName(), Outcome: agentv1.Outcome_UNCHANGED}
	switch {
	case p.err != nil:
		r.Outcome, r.Message = agentv1.Outcome_FAILED, p.err.Error()
	case changed:
		r.Outcome, r.Message = agentv1.Outcome_CHANGED, "created"
	}
	return r
}

// step collects what one resource's converge did.
type step struct {
	result  *agentv1.ResourceResult
	pending []string
}

func (s *step) did(format string, args ...any) {
	s.result.Actions = append(s.result.Actions, fmt.Sprintf(format, args...))
}

func (c *converge) resource(ctx context.Context, r *agentv1.Resource) *agentv1.ResourceResult {
	s := &step{result: &agentv1.ResourceResult{Name: r.GetName()}}
	err := c.resourceSteps(ctx, r, s)
	switch {
	case err != nil:
		s.result.Outcome, s.result.Message = agentv1.Outcome_FAILED, err.Error()
		c.agent.log.ErrorContext(ctx, "converge resource", "resource", r.GetName(), "error", err)
	case len(s.pending) > 0:
		s.result.Outcome, s.result.Message = agentv1.Outcome_PENDING, strings.Join(s.pending, "; ")
	case len(s.result.Actions) > 0:
		s.result.Outcome = agentv1.Outcome_CHANGED
	default:
		s.result.Outcome = agentv1.Outcome_UNCHANGED
	}
	return s.result
}

func (c *converge) resourceSteps(ctx context.Context, r *agentv1.Resource, s *step) error {
	if err := c.agent.kernelSupports(r); err != nil {
		return err
	}
	vols, err := c.backingVolumes(ctx, r, s)
	if err != nil {
		return err
	}
	if !usesDRBD(r) {
		return nil
	}
	return c.drbdSteps(ctx, r, vols, s)
}

// local is one volume of a resource on this node after the storage step.
type local struct {
	spec    *agentv1.Volume
	backing *storage.Volume // nil when diskless
	created bool
}

// backingVolumes creates, activates and grows the resource's backing volumes.
func (c *converge) backingVolumes(ctx context.Context, r *agentv1.Resource, s *step) ([]local, error) {
	var out []local
	for _, v := range sortedVolumes(r) {
		l := local{spec: v}
		if v.GetDiskless() {
			out = append(out, l)
			continue
		}
		p := c.host.pools[v.GetStoragePool()]
		if p.err != nil {
			return nil, fmt.Errorf("volume %d: storage pool %s is not usable: %w", v.GetNumber(), p.spec.GetName(), p.err)
		}
		b, created, err := c.backingVolume(ctx, r, v, p, s)
		if err != nil {
			return nil, err
		}
		l.backing, l.created = &b, created
		out = append(out, l)
	}
	return out, nil
}

func (c *converge) backingVolume(ctx context.Context, r *agentv1.Resource, v *agentv1.Volume, p *pool, s *step) (storage.Volume, bool, error) {
	name := storage.VolumeName(r.GetName(), v.GetNumber())
	size := grossSize(r, v)
	b, ok := c.host.volume(p, name)
	if !ok && r.GetRestoreFrom() != nil {
		b, err := c.restoreVolume(ctx, r, v, p)
		if err != nil {
			return b, false, err
		}
		src := r.GetRestoreFrom()
		s.did("restore volume %d in pool %s from snapshot %s/%s", v.GetNumber(), p.spec.GetName(), src.GetResource(), src.GetSnapshot())
		if b.SizeKiB < size {
			if b, err = p.provider.Grow(ctx, b, size); err != nil {
				return b, false, err
			}
			s.did("grow volume %d to %d KiB", v.GetNumber(), size)
		}
		c.host.setVolume(p, name, b)
		return b, true, nil
	}
	if !ok {
		b, err := p.provider.Create(ctx, name, r.GetUid(), size)
		if err != nil {
			return b, false, err
		}
		c.host.setVolume(p, name, b)
		s.did("create volume %d in pool %s (%d KiB)", v.GetNumber(), p.spec.GetName(), size)
		return b, true, nil
	}
	if b.UID != r.GetUid() {
		return b, false, &ConflictError{Err: fmt.Errorf("volume %s in pool %s belongs to uid %q, not %q: refusing to use it",
			name, p.spec.GetName(), b.UID, r.GetUid())}
	}
	b, activated, err := p.provider.Activate(ctx, b)
	if err != nil {
		return b, false, err
	}
	if activated {
		s.did("activate volume %d (%s)", v.GetNumber(), b.DevicePath)
	}
	if b.SizeKiB < size {
		if b, err = p.provider.Grow(ctx, b, size); err != nil {
			return b, false, err
		}
		s.did("grow volume %d to %d KiB", v.GetNumber(), size)
	}
	c.host.setVolume(p, name, b)
	return b, false, nil
}

// grossSize is the backing size of a volume: with DRBD, room for internal
// metadata is added.
func grossSize(r *agentv1.Resource, v *agentv1.Volume) uint64 {
	if !usesDRBD(r) {
		return v.GetSizeKib()
	}
	return drbdGross(v.GetSizeKib(), r.GetDrbd().GetMaxPeers())
}

func sortedVolumes(r *agentv1.Resource) []*agentv1.Volume {
	vols := slices.Clone(r.GetVolumes())
	slices.SortFunc(vols, func(a, b *agentv1.Volume) int { return int(a.GetNumber()) - int(b.GetNumber()) })
	return vols
}

// writeIfChanged writes a resource file when its content differs.
func (c *converge) writeIfChanged(name string, data []byte) (bool, error) {
	if f, ok := c.host.resFile(name); ok && bytes.Equal(f.data, data) {
		return false, nil
	}
	if err := os.MkdirAll(c.agent.cfg.ConfigDir, 0o755); err != nil {
		return false, fmt.Errorf("create DRBD config dir: %w", err)
	}
	path := c.agent.resPath(name)
	if err := writeFileAtomic(path, data); err != nil {
		return false, err
	}
	c.host.setResFile(name, resFile{path: path, data: data, uid: resFileUID(data)})
	return true, nil
}
