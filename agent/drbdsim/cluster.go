package drbdsim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"
)

// cluster is every node's state of one resource, loaded under its lock:
// the shared "network" through which simulated nodes see each other.
type cluster struct {
	res      string
	nodes    map[string]*nodeState
	now      time.Time
	syncTime time.Duration
	// dirty: settle changed a node's state, which must be saved.
	dirty bool
}

// node returns name's state, creating an empty one.
func (c *cluster) node(name string) *nodeState {
	n := c.nodes[name]
	if n == nil {
		n = &nodeState{Resource: c.res, Node: name}
		c.nodes[name] = n
	}
	return n
}

func (c *cluster) sortedNodes() []*nodeState {
	names := make([]string, 0, len(c.nodes))
	for name := range c.nodes {
		names = append(names, name)
	}
	slices.Sort(names)
	out := make([]*nodeState, 0, len(names))
	for _, name := range names {
		out = append(out, c.nodes[name])
	}
	return out
}

// link returns the other end of x's connection p when the connection is
// established: both resources up, each naming the other with the right
// node ids, both asked to connect, and a path whose ends match.
func (c *cluster) link(x *nodeState, p *peer) (*nodeState, *peer, bool) {
	y := c.nodes[p.Name]
	if !x.Up || !p.Connect || y == nil || !y.Up || y.NodeID != p.NodeID {
		return nil, nil, false
	}
	q := y.peerByID(x.NodeID)
	if q == nil || q.Name != x.Node || !q.Connect {
		return nil, nil, false
	}
	for _, a := range p.Paths {
		for _, b := range q.Paths {
			if a.Local == b.Peer && a.Peer == b.Local {
				return y, q, true
			}
		}
	}
	return nil, nil, false
}

// since is when the connection of x over p was established.
func since(p, q *peer) time.Time {
	if q.ConnectAt.After(p.ConnectAt) {
		return q.ConnectAt
	}
	return p.ConnectAt
}

// settle brings the cluster to c.now: compares data generations of newly
// connected disks (split brain, who is behind) and completes resyncs.
func (c *cluster) settle() {
	for _, x := range c.sortedNodes() {
		for _, p := range x.Peers {
			if y, q, ok := c.link(x, p); ok && x.Node < y.Node {
				c.handshake(x, p, y, q)
			}
		}
	}
	for c.resyncStep() {
	}
}

// handshake compares the generations of every volume both sides hold data
// of: the side whose generation is history on the other becomes a sync
// target; unrelated generations are a split brain (both StandAlone) unless
// a side was told to discard its data.
func (c *cluster) handshake(x *nodeState, p *peer, y *nodeState, q *peer) {
	for _, xv := range x.Volumes {
		yv := y.volume(xv.Number)
		if yv == nil || !xv.attached() || !yv.attached() {
			continue
		}
		c.dirty = agreeSize(xv, yv) || c.dirty
		if xv.MD.State != "UpToDate" || yv.MD.State != "UpToDate" || xv.MD.UUID == yv.MD.UUID {
			continue
		}
		switch {
		case slices.Contains(yv.MD.History, xv.MD.UUID) || p.DiscardMyData:
			xv.MD.State = "Inconsistent"
		case slices.Contains(xv.MD.History, yv.MD.UUID) || q.DiscardMyData:
			yv.MD.State = "Inconsistent"
		default:
			p.Connect, q.Connect, p.SplitBrain, q.SplitBrain = false, false, true, true
		}
		c.dirty = true
		if !p.Connect {
			return
		}
	}
	if p.DiscardMyData || q.DiscardMyData {
		p.DiscardMyData, q.DiscardMyData, c.dirty = false, false, true
	}
}

// resyncStep starts or completes one resync; false when there was nothing
// to do. A target syncs from the connected UpToDate peer that could start
// earliest: the later of the connection and the peer's own UpToDate time.
func (c *cluster) resyncStep() bool {
	for _, x := range c.sortedNodes() {
		for _, v := range x.Volumes {
			if !v.attached() || v.MD.State == "UpToDate" {
				continue
			}
			src, start := c.syncSource(x, v)
			if src == nil {
				if v.SyncSource != "" {
					v.SyncSource, v.SyncStart, c.dirty = "", time.Time{}, true
					return true
				}
				continue
			}
			if v.SyncSource != src.Node || !v.SyncStart.Equal(start) {
				v.SyncSource, v.SyncStart, c.dirty = src.Node, start, true
			}
			done := start.Add(c.syncTime)
			if c.now.Before(done) {
				continue
			}
			sv := src.volume(v.Number)
			v.MD.State, v.MD.UUID, v.MD.History = "UpToDate", sv.MD.UUID, slices.Clone(sv.MD.History)
			v.MD.UpToDateAt, v.SyncSource, v.SyncStart, c.dirty = done, "", time.Time{}, true
			return true
		}
	}
	return false
}

func (c *cluster) syncSource(x *nodeState, v *volume) (*nodeState, time.Time) {
	var best *nodeState
	var bestStart time.Time
	for _, p := range x.Peers {
		y, q, ok := c.link(x, p)
		if !ok {
			continue
		}
		yv := y.volume(v.Number)
		if yv == nil || !yv.attached() || yv.MD.State != "UpToDate" {
			continue
		}
		start := since(p, q)
		if yv.MD.UpToDateAt.After(start) {
			start = yv.MD.UpToDateAt
		}
		if best == nil || start.Before(bestStart) {
			best, bestStart = y, start
		}
	}
	return best, bestStart
}

// connections returns x's established peers' states by peer node id.
func (c *cluster) connections(x *nodeState) map[int]*nodeState {
	out := map[int]*nodeState{}
	for _, p := range x.Peers {
		if y, _, ok := c.link(x, p); ok {
			out[p.NodeID] = y
		}
	}
	return out
}

// peerDiskless reports whether x's configuration names peer p's volume as
// diskless (drbdadm marks it with peer-device-options --bitmap=no).
func peerDiskless(p *peer, vol int) bool {
	return p.DeviceOptions[vol]["bitmap"] == "no"
}

// quorum is DRBD's quorum of x's volume: off unless the resource option
// is set; otherwise the diskful nodes of the configuration vote (x itself
// when attached, peers when connected) and a tie is won by the partition
// holding a diskless tie-breaker.
func (c *cluster) quorum(x *nodeState, v *volume) bool {
	setting := x.Options["quorum"]
	if setting == "" || setting == "off" {
		return true
	}
	conns := c.connections(x)
	voters, present, tieBreaker := 0, 0, v.Client
	if !v.Client {
		voters++
		if v.attached() {
			present++
		}
	}
	for _, p := range x.Peers {
		y := conns[p.NodeID]
		if peerDiskless(p, v.Number) {
			tieBreaker = tieBreaker || y != nil
			continue
		}
		voters++
		if y != nil {
			if yv := y.volume(v.Number); yv != nil && yv.attached() {
				present++
			}
		}
	}
	switch setting {
	case "majority":
		return 2*present > voters || (2*present == voters && present > 0 && tieBreaker)
	case "all":
		return present == voters
	}
	n, err := strconv.Atoi(setting)
	return err == nil && present >= n
}

// upToDateAccess reports whether x can reach UpToDate data of volume vol:
// its own disk or a connected peer's.
func (c *cluster) upToDateAccess(x *nodeState, vol int) bool {
	if v := x.volume(vol); v != nil && v.attached() && v.MD.State == "UpToDate" {
		return true
	}
	for _, y := range c.connections(x) {
		if yv := y.volume(vol); yv != nil && yv.attached() && yv.MD.State == "UpToDate" {
			return true
		}
	}
	return false
}

// newUUID returns a fresh data generation.
func newUUID() string { return fmt.Sprintf("%016X", rand.Uint64()&^1) }

// rotate starts a new data generation on v.
func rotate(md *metadata, uuid string) {
	if md.UUID != justCreated {
		md.History = append([]string{md.UUID}, md.History...)
		if len(md.History) > 8 {
			md.History = md.History[:8]
		}
	}
	md.UUID = uuid
}

// agreeSize makes two connected disks agree on the device size: the
// larger of their sizes, as far as both backing devices allow. It reports
// a change.
func agreeSize(a, b *volume) bool {
	if a.MD.SizeKiB == b.MD.SizeKiB {
		return false
	}
	size := min(max(a.MD.SizeKiB, b.MD.SizeKiB), a.UsableKiB, b.UsableKiB)
	a.MD.SizeKiB, b.MD.SizeKiB = size, size
	return true
}
