package drbdsim

import (
	"fmt"
	"slices"
	"strconv"
)

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
	if other, err := k.s.resourceOfMinor(minor, true); err == nil && other != "" && other != k.me.Resource {
		return kernelFailure(k.me.Resource, errMinorExists, "requested minor exists already")
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
	if opts["bitmap"] == "no" && !peerDiskless(p, number) && k.me.volume(number).attached() && k.peerAttached(p, number) {
		// A peer going diskless that has not detached yet.
		return kernelFailure(k.me.Resource, errInvalidRequest, "Can not drop the bitmap when both sides have a disk")
	}
	if p.DeviceOptions == nil {
		p.DeviceOptions = map[int]map[string]string{}
	}
	p.DeviceOptions[number] = opts
	if opts == nil {
		delete(p.DeviceOptions, number)
	}
	return nil
}

// peerAttached reports whether the connected peer p has volume number
// attached (DRBD knows the peer's disk over an established connection).
func (k kernelCtx) peerAttached(p *peer, number int) bool {
	y, _, ok := k.c.link(k.me, p)
	if !ok {
		return false
	}
	v := y.volume(number)
	return v != nil && v.attached()
}

// primary promotes: every device needs UpToDate data (its own or a
// connected peer's) unless --force makes the local disk UpToDate, the
// resource needs quorum, and no connected peer may be Primary unless
// allow-two-primaries. Promoting while a diskful peer is away starts a new
// data generation, so that peer resyncs when it returns.
func primary(k kernelCtx) *failure {
	res, me := k.me.Resource, k.me
	force := k.call.has("force") || k.call.has("overwrite-data-of-peer")
	var forced []*volume
	for _, v := range me.Volumes {
		if !v.InKernel || k.c.upToDateAccess(me, v.Number) {
			continue
		}
		if !force || !v.attached() {
			return stateFailure(res, ssNoUpToDate)
		}
		forced = append(forced, v)
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
	for _, v := range forced {
		rotate(v.MD, newUUID())
		v.MD.State, v.MD.UpToDateAt, v.SyncSource = "UpToDate", k.c.now, ""
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
