package drbdsim

import (
	"context"
	"maps"
	"strconv"

	"github.com/piraeusctl/piraeusctl/hostexec"
)

// withResource runs fn on the resource's cluster under its lock, settled
// to now before and after, and saves what changed.
func (s *Sim) withResource(res string, fn func(c *cluster, me *nodeState) *failure) (*failure, error) {
	unlock, err := s.store.lock(res)
	if err != nil {
		return nil, err
	}
	defer unlock()
	nodes, raw, err := s.store.load(res)
	if err != nil {
		return nil, err
	}
	c := &cluster{res: res, nodes: nodes, now: s.cfg.Now(), syncTime: s.cfg.ResyncTime}
	c.settle()
	f := fn(c, c.node(s.cfg.Node))
	c.settle()
	if err := s.store.save(res, c.nodes, raw); err != nil {
		return nil, err
	}
	return f, nil
}

// readResource returns the resource's cluster settled to now, under a
// shared lock; only when settling changed something (a resync completed,
// say) is it done again under the exclusive lock and saved.
func (s *Sim) readResource(res string) (*cluster, error) {
	unlock, err := s.store.rlock(res)
	if err != nil {
		return nil, err
	}
	nodes, _, err := s.store.load(res)
	unlock()
	if err != nil {
		return nil, err
	}
	c := &cluster{res: res, nodes: nodes, now: s.cfg.Now(), syncTime: s.cfg.ResyncTime}
	c.settle()
	if !c.dirty {
		return c, nil
	}
	var saved *cluster
	_, err = s.withResource(res, func(c *cluster, _ *nodeState) *failure {
		saved = c
		return nil
	})
	return saved, err
}

// resourceOfMinor finds the resource of this node whose device is minor,
// else (inKernel false) one that keeps metadata under that minor.
func (s *Sim) resourceOfMinor(minor int, inKernel bool) (string, error) {
	names, err := s.store.resources(s.cfg.Node)
	if err != nil {
		return "", err
	}
	fallback := ""
	for _, res := range names {
		nodes, _, err := s.store.load(res)
		if err != nil {
			return "", err
		}
		n := nodes[s.cfg.Node]
		if n == nil || n.volumeByMinor(minor) == nil {
			continue
		}
		if n.volumeByMinor(minor).InKernel {
			return res, nil
		}
		if fallback == "" && !inKernel {
			fallback = res
		}
	}
	return fallback, nil
}

// setup runs one drbdsetup command against this node's simulated kernel.
func (s *Sim) setup(ctx context.Context, args []string) (outcome, error) {
	line := hostexec.Cmd{Name: "drbdsetup", Args: args}.Line()
	if len(args) == 0 {
		return failed(localFailure("USAGE: drbdsetup command {arguments} [options]")), nil
	}
	c := splitSetup(args)
	switch c.verb {
	case "status":
		return s.status(c, line)
	case "events2":
		return s.events2(c, line)
	}
	if op, ok := resourceOps[c.verb]; ok {
		if len(c.pos) < op.args {
			return failed(localFailure("Missing argument for %s", c.verb)), nil
		}
		f, err := s.withResource(c.pos[0], func(cl *cluster, me *nodeState) *failure {
			if !me.Up && c.verb != "new-resource" && c.verb != "down" {
				return kernelFailure(c.pos[0], errResNotKnown, "unknown resource")
			}
			return op.run(kernelCtx{ctx: ctx, s: s, c: cl, me: me, call: c})
		})
		return failed(f), err
	}
	if op, ok := minorOps[c.verb]; ok {
		if len(c.pos) < op.args {
			return failed(localFailure("Missing argument for %s", c.verb)), nil
		}
		minor, err := strconv.Atoi(c.pos[0])
		if err != nil {
			return failed(localFailure("%q is not a minor number", c.pos[0])), nil
		}
		res, err := s.resourceOfMinor(minor, true)
		if err != nil {
			return outcome{}, err
		}
		if res == "" {
			return failed(kernelFailure(c.pos[0], errMinorInvalid, "unknown minor")), nil
		}
		f, err := s.withResource(res, func(cl *cluster, me *nodeState) *failure {
			v := me.volumeByMinor(minor)
			if v == nil || !v.InKernel {
				return kernelFailure(c.pos[0], errMinorInvalid, "unknown minor")
			}
			return op.run(kernelCtx{ctx: ctx, s: s, c: cl, me: me, call: c, vol: v})
		})
		return failed(f), err
	}
	return failed(notSimulated(line)), nil
}

// kernelCtx is one drbdsetup command on a loaded resource.
type kernelCtx struct {
	ctx  context.Context
	s    *Sim
	c    *cluster
	me   *nodeState
	call call
	// vol is the device of a command naming a minor.
	vol *volume
}

type kernelOp struct {
	args int // positional arguments required
	run  func(k kernelCtx) *failure
}

var resourceOps = map[string]kernelOp{
	"new-resource":        {2, newResource},
	"resource-options":    {1, resourceOptions},
	"new-minor":           {3, newMinor},
	"new-peer":            {2, newPeer},
	"del-peer":            {2, delPeer},
	"new-path":            {4, newPath},
	"del-path":            {4, delPath},
	"connect":             {2, connect},
	"disconnect":          {2, disconnect},
	"net-options":         {2, netOptions},
	"peer-device-options": {3, peerDeviceOptions},
	"primary":             {1, primary},
	"secondary":           {1, secondary},
	"down":                {1, down},
	"del-resource":        {1, delResource},
}

var minorOps = map[string]kernelOp{
	"attach":           {4, attach},
	"detach":           {1, detach},
	"del-minor":        {1, delMinor},
	"disk-options":     {1, diskOptions},
	"resize":           {1, resize},
	"check-resize":     {1, func(kernelCtx) *failure { return nil }},
	"suspend-io":       {1, func(kernelCtx) *failure { return nil }},
	"resume-io":        {1, func(kernelCtx) *failure { return nil }},
	"new-current-uuid": {1, newCurrentUUID},
}

// merge applies options: with --set-defaults they replace the old ones.
func merge(old map[string]string, c call) map[string]string {
	if c.has("set-defaults") {
		return c.settings()
	}
	out := maps.Clone(old)
	for k, v := range c.settings() {
		if out == nil {
			out = map[string]string{}
		}
		out[k] = v
	}
	return out
}

func (k kernelCtx) peer() (*peer, *failure) {
	id, err := strconv.Atoi(k.call.pos[1])
	if err != nil || id < 0 || id > 31 {
		return nil, kernelFailure(k.me.Resource, errInvalidRequest, "peer node id out of range")
	}
	p := k.me.peerByID(id)
	if p == nil {
		return nil, kernelFailure(k.me.Resource, errInvalidRequest, "unknown connection")
	}
	return p, nil
}
