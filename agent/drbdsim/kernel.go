package drbdsim

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

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

// resourceOfMinor finds the resource of this node that has minor.
func (s *Sim) resourceOfMinor(minor int) (string, error) {
	names, err := s.store.resources(s.cfg.Node)
	if err != nil {
		return "", err
	}
	for _, res := range names {
		nodes, _, err := s.store.load(res)
		if err != nil {
			return "", err
		}
		if n := nodes[s.cfg.Node]; n != nil && n.volumeByMinor(minor) != nil {
			return res, nil
		}
	}
	return "", nil
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
		res, err := s.resourceOfMinor(minor)
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

func newResource(k kernelCtx) *failure {
	if k.me.Up {
		return nil // DRBD accepts an existing resource silently
	}
	id, err := strconv.Atoi(k.call.pos[1])
	if err != nil || id < 0 || id > 31 {
		return kernelFailure(k.call.pos[0], errInvalidRequest, "invalid node id")
	}
	k.me.Up, k.me.NodeID, k.me.Role, k.me.Options, k.me.Peers = true, id, "Secondary", k.call.settings(), nil
	return nil
}

func resourceOptions(k kernelCtx) *failure {
	k.me.Options = merge(k.me.Options, k.call)
	return nil
}

func newMinor(k kernelCtx) *failure {
	minor, err1 := strconv.Atoi(k.call.pos[1])
	number, err2 := strconv.Atoi(k.call.pos[2])
	if err1 != nil || err2 != nil || minor < 0 || number < 0 || number > 65535 {
		return localFailure("new-minor %s: minor %q or volume %q is not a number", k.me.Resource, k.call.pos[1], k.call.pos[2])
	}
	other, err := k.s.resourceOfMinor(minor)
	if err == nil && other != "" && other != k.me.Resource {
		nodes, _, _ := k.s.store.load(other)
		if n := nodes[k.s.cfg.Node]; n != nil && n.volumeByMinor(minor) != nil && n.volumeByMinor(minor).InKernel {
			return kernelFailure(k.me.Resource, errMinorExists, "requested minor exists already")
		}
	}
	v := k.me.volume(number)
	if v != nil && v.InKernel {
		return kernelFailure(k.me.Resource, errMinorExists, "requested volume exists already")
	}
	if byMinor := k.me.volumeByMinor(minor); byMinor != nil && byMinor != v && byMinor.InKernel {
		return kernelFailure(k.me.Resource, errMinorExists, "requested minor exists already")
	}
	if v == nil {
		v = &volume{Number: number}
		k.me.Volumes = append(k.me.Volumes, v)
		sortVolumes(k.me.Volumes)
	}
	v.Minor, v.InKernel, v.Client = minor, true, k.call.has("diskless")
	return nil
}

func newPeer(k kernelCtx) *failure {
	id, err := strconv.Atoi(k.call.pos[1])
	if err != nil || id < 0 || id > 31 {
		return kernelFailure(k.me.Resource, errInvalidRequest, "peer node id out of range")
	}
	if id == k.me.NodeID {
		return kernelFailure(k.me.Resource, errInvalidRequest, "peer node id cannot be my own node id")
	}
	if k.me.peerByID(id) != nil {
		return kernelFailure(k.me.Resource, errInvalidRequest, fmt.Sprintf("Connection for peer node id %d already exists", id))
	}
	name := ""
	for _, o := range k.call.opts {
		if o.key == "_name" {
			name = o.value
		}
	}
	if name == "" {
		return &failure{exit: 10, stderr: k.me.Resource + ": Failure: (126) UnknownMandatoryTag\nadditional info from kernel:\nname missing\n"}
	}
	k.me.Peers = append(k.me.Peers, &peer{NodeID: id, Name: name, NetOptions: k.call.settings()})
	slices.SortFunc(k.me.Peers, func(a, b *peer) int { return a.NodeID - b.NodeID })
	return nil
}

func delPeer(k kernelCtx) *failure {
	p, f := k.peer()
	if f != nil {
		return f
	}
	k.me.Peers = slices.DeleteFunc(k.me.Peers, func(q *peer) bool { return q == p })
	for _, v := range k.me.Volumes {
		if v.SyncSource == p.Name {
			v.SyncSource = ""
		}
	}
	return nil
}

func newPath(k kernelCtx) *failure {
	p, f := k.peer()
	if f != nil {
		return f
	}
	np := path{Local: k.call.pos[2], Peer: k.call.pos[3]}
	if !slices.Contains(p.Paths, np) {
		p.Paths = append(p.Paths, np)
	}
	return nil
}

func delPath(k kernelCtx) *failure {
	p, f := k.peer()
	if f != nil {
		return f
	}
	p.Paths = slices.DeleteFunc(p.Paths, func(x path) bool { return x == path{Local: k.call.pos[2], Peer: k.call.pos[3]} })
	return nil
}

func connect(k kernelCtx) *failure {
	p, f := k.peer()
	if f != nil {
		return f
	}
	if len(p.Paths) == 0 {
		return kernelFailure(k.me.Resource, errInvalidRequest, "connection endpoint(s) missing")
	}
	if p.Connect {
		return &failure{exit: 10, stderr: k.me.Resource + ": Failure: (125) Device has a net-config (use disconnect first)\n"}
	}
	p.Connect, p.ConnectAt, p.SplitBrain = true, k.c.now, false
	p.DiscardMyData = k.call.has("discard-my-data")
	return nil
}

func disconnect(k kernelCtx) *failure {
	p, f := k.peer()
	if f != nil {
		return f
	}
	p.Connect = false
	return nil
}

func netOptions(k kernelCtx) *failure {
	p, f := k.peer()
	if f != nil {
		return f
	}
	p.NetOptions = merge(p.NetOptions, k.call)
	return nil
}

func peerDeviceOptions(k kernelCtx) *failure {
	p, f := k.peer()
	if f != nil {
		return f
	}
	number, err := strconv.Atoi(k.call.pos[2])
	if v := k.me.volume(number); err != nil || v == nil || !v.InKernel {
		return kernelFailure(k.me.Resource, errInvalidRequest, "unknown volume")
	}
	opts := merge(p.DeviceOptions[number], k.call)
	if p.DeviceOptions == nil {
		p.DeviceOptions = map[int]map[string]string{}
	}
	p.DeviceOptions[number] = opts
	if opts == nil {
		delete(p.DeviceOptions, number)
	}
	return nil
}

// primary promotes: every device needs UpToDate data (its own or a
// connected peer's) unless --force makes the local disk UpToDate, the
// resource needs quorum, and no connected peer may be Primary unless
// allow-two-primaries. Promoting while a diskful peer is away starts a new
// data generation, so that peer resyncs when it returns.
func primary(k kernelCtx) *failure {
	res, me := k.me.Resource, k.me
	force := k.call.has("force") || k.call.has("overwrite-data-of-peer")
	for _, v := range me.Volumes {
		if !v.InKernel || k.c.upToDateAccess(me, v.Number) {
			continue
		}
		if !force || !v.attached() {
			return stateFailure(res, ssNoUpToDate)
		}
	}
	conns := k.c.connections(me)
	for _, p := range me.Peers {
		if y := conns[p.NodeID]; y != nil && y.Role == "Primary" && p.NetOptions["allow-two-primaries"] != "yes" {
			return stateFailure(res, ssTwoPrimaries)
		}
	}
	if !force {
		for _, v := range me.Volumes {
			if v.InKernel && !k.c.quorum(me, v) {
				return stateFailure(res, ssNoQuorum)
			}
		}
	}
	for _, v := range me.Volumes {
		if v.attached() && v.MD.State != "UpToDate" {
			rotate(v.MD, newUUID())
			v.MD.State, v.MD.UpToDateAt, v.SyncSource = "UpToDate", k.c.now, ""
		}
	}
	if me.Role != "Primary" && diskfulPeerAway(me, conns) {
		for _, v := range me.Volumes {
			newGeneration(k.c, me, v, false)
		}
	}
	me.Role = "Primary"
	return nil
}

func diskfulPeerAway(me *nodeState, conns map[int]*nodeState) bool {
	for _, p := range me.Peers {
		if conns[p.NodeID] != nil {
			continue
		}
		for _, v := range me.Volumes {
			if !peerDiskless(p, v.Number) {
				return true
			}
		}
	}
	return false
}

// newGeneration gives v a new current UUID; connected peers holding the
// same data follow (they are in sync). With justCreated, peers whose
// metadata is new become UpToDate as well (--clear-bitmap).
func newGeneration(c *cluster, me *nodeState, v *volume, adoptNew bool) {
	if !v.attached() || (v.MD.State != "UpToDate" && !adoptNew) {
		return
	}
	old, uuid := v.MD.UUID, newUUID()
	for _, y := range c.connections(me) {
		yv := y.volume(v.Number)
		if yv == nil || !yv.attached() {
			continue
		}
		switch {
		case yv.MD.State == "UpToDate" && yv.MD.UUID == old:
			rotate(yv.MD, uuid)
		case adoptNew && yv.MD.UUID == justCreated:
			rotate(yv.MD, uuid)
			yv.MD.State, yv.MD.UpToDateAt, yv.SyncSource = "UpToDate", c.now, ""
		}
	}
	rotate(v.MD, uuid)
	if adoptNew {
		v.MD.State, v.MD.UpToDateAt, v.SyncSource = "UpToDate", c.now, ""
	}
}

func secondary(k kernelCtx) *failure {
	k.me.Role = "Secondary"
	return nil
}

// down takes the resource out of the kernel; the metadata stays.
func down(k kernelCtx) *failure {
	me := k.me
	me.Up, me.Role, me.Options, me.Peers = false, "", nil, nil
	me.Volumes = slices.DeleteFunc(me.Volumes, func(v *volume) bool { return v.MD == nil })
	for _, v := range me.Volumes {
		v.InKernel, v.Client = false, false
		v.detach()
	}
	return nil
}

func delResource(k kernelCtx) *failure {
	if slices.ContainsFunc(k.me.Volumes, func(v *volume) bool { return v.InKernel }) {
		return kernelFailure(k.me.Resource, errResInUse, "")
	}
	if len(k.me.Peers) > 0 {
		return &failure{exit: 10, stderr: k.me.Resource + ": Failure: (125) Device has a net-config (use disconnect first)\n"}
	}
	k.me.Up, k.me.Role, k.me.Options = false, "", nil
	return nil
}

// attach opens the backing disk and reads its metadata.
func attach(k kernelCtx) *failure {
	v, minor, disk := k.vol, k.call.pos[0], k.call.pos[1]
	if k.call.pos[2] != "internal" && k.call.pos[2] != disk {
		return notSimulated("drbdsetup attach with external metadata")
	}
	switch {
	case v.Client:
		return stateFailure(minor, ssAttachNoBitmp)
	case v.Disk != "":
		return kernelFailure(minor, errDiskConfigured, "")
	case v.MD == nil:
		return kernelFailure(minor, errMDInvalid, "")
	}
	usable, err := k.s.usableKiB(k.ctx, disk, v.MD.MaxPeers)
	if err != nil {
		return kernelFailure(minor, errOpenDisk, err.Error())
	}
	if v.MD.SizeKiB > usable {
		return kernelFailure(minor, errImplicitShrink, "")
	}
	if v.MD.SizeKiB == 0 {
		v.MD.SizeKiB = usable
	}
	v.Disk, v.MD.Disk, v.UsableKiB, v.DiskOptions = disk, disk, usable, k.call.settings()
	return nil
}

func detach(k kernelCtx) *failure {
	v := k.vol
	if !v.attached() {
		return nil
	}
	if k.me.Role == "Primary" && v.MD.State == "UpToDate" {
		v.Disk = ""
		ok := k.c.upToDateAccess(k.me, v.Number)
		v.Disk = v.MD.Disk
		if !ok {
			return stateFailure(k.me.Resource, ssNoUpToDate)
		}
	}
	v.detach()
	return nil
}

func delMinor(k kernelCtx) *failure {
	v := k.vol
	if v.Disk != "" {
		return kernelFailure(k.call.pos[0], errMinorConfig, "")
	}
	v.InKernel, v.Client = false, false
	if v.MD == nil {
		k.me.Volumes = deleteVolume(k.me.Volumes, v)
	}
	return nil
}

func diskOptions(k kernelCtx) *failure {
	if !k.vol.attached() {
		return kernelFailure(k.call.pos[0], errNoDisk, "")
	}
	k.vol.DiskOptions = merge(k.vol.DiskOptions, k.call)
	return nil
}

// resize grows the device to the smallest backing capacity of the
// connected diskful nodes: its own, read now, and the peers' as their
// kernels last read them (at attach or their own resize; real DRBD asks
// the peers for their current capacity, so here the last node to grow its
// backing device and resize completes the growth). The new size reaches
// every connected node. Not during a resync, and never smaller than the
// local capacity allows.
func resize(k kernelCtx) *failure {
	v, minor := k.vol, k.call.pos[0]
	if !v.attached() {
		return kernelFailure(minor, errNoDisk, "")
	}
	own, err := k.s.usableKiB(k.ctx, v.Disk, v.MD.MaxPeers)
	if err != nil {
		return kernelFailure(minor, errOpenDisk, err.Error())
	}
	v.UsableKiB = own
	size := own
	var peers []*volume
	for _, y := range k.c.connections(k.me) {
		yv := y.volume(v.Number)
		if yv == nil || !yv.InKernel {
			continue
		}
		if yv.SyncSource == k.me.Node || v.SyncSource == y.Node {
			return kernelFailure(minor, errResizeResync, "")
		}
		peers = append(peers, yv)
		if yv.attached() {
			size = min(size, yv.UsableKiB)
		}
	}
	for _, o := range k.call.opts {
		if o.key == "size" {
			want, err := parseSize(o.value)
			if err != nil {
				return localFailure("resize: --size=%s: %v", o.value, err)
			}
			size = min(size, want)
		}
	}
	switch {
	case own < v.MD.SizeKiB:
		return kernelFailure(minor, errImplicitShrink, "")
	case size <= v.MD.SizeKiB:
		return nil
	}
	v.MD.SizeKiB = size
	for _, yv := range peers {
		if yv.attached() {
			yv.MD.SizeKiB = size
		}
	}
	return nil
}

// parseSize reads a drbdsetup size: sectors, or with a k/M/G/T suffix.
func parseSize(s string) (uint64, error) {
	mult := uint64(0)
	switch {
	case strings.HasSuffix(s, "k"), strings.HasSuffix(s, "K"):
		mult = 1
	case strings.HasSuffix(s, "M"):
		mult = 1 << 10
	case strings.HasSuffix(s, "G"):
		mult = 1 << 20
	case strings.HasSuffix(s, "T"):
		mult = 1 << 30
	}
	if mult != 0 {
		s = s[:len(s)-1]
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, err
	}
	if mult == 0 {
		return n / 2, nil // sectors
	}
	return n * mult, nil
}

// newCurrentUUID starts a new data generation. On new metadata with
// --clear-bitmap it skips the initial sync: this disk and every connected
// peer's new disk become UpToDate with the same generation.
func newCurrentUUID(k kernelCtx) *failure {
	v := k.vol
	if !v.attached() {
		return kernelFailure(k.call.pos[0], errNoDisk, "")
	}
	newGeneration(k.c, k.me, v, v.MD.UUID == justCreated && k.call.has("clear-bitmap"))
	return nil
}
