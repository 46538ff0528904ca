package placement

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
)

// diskless returns the volume's diskless replicas: kept ones, clientList,
// disklessOnRemaining, or a tie-breaker for exactly two diskful replicas.
func (p *placer) diskless(g *groupIndex, v *storagev1alpha1.StorageVolume, st *volumeState, diskful []storagev1alpha1.Replica) []storagev1alpha1.Replica {
	holds := make(map[string]bool, len(diskful)+2)
	for _, r := range diskful {
		holds[r.Node] = true
	}
	var out []storagev1alpha1.Replica
	for _, r := range st.keptDiskless {
		if holds[r.Node] {
			p.c.byName[r.Node].diskless--
			continue
		}
		holds[r.Node] = true
		out = append(out, r)
	}
	add := func(n *node, reason string, tieBreaker bool) {
		holds[n.name] = true
		n.diskless++
		out = append(out, storagev1alpha1.Replica{Node: n.name, Diskless: true, TieBreaker: tieBreaker, Reason: reason})
	}
	for _, name := range g.rg.ClientList {
		if n := p.c.byName[name]; n != nil && !n.cordoned && !holds[name] {
			add(n, "clientList of resource group "+g.rg.Name, false)
		}
	}
	switch {
	case g.rg.DisklessOnRemaining:
		room := MaxNodeIDs - len(diskful) - len(out)
		for _, n := range p.remaining(v, holds, room) {
			add(n, "disklessOnRemaining of resource group "+g.rg.Name, false)
		}
	case len(diskful) == 2 && !p.holdsDiskless(out) && HasDRBD(g.rg):
		if n, reason := p.tieBreaker(g, st, diskful, holds); n != nil {
			add(n, reason, true)
		}
	}
	return out
}

// holdsDiskless reports whether a diskless replica other than one on an
// evacuating node (which is on its way out) stays: a tie-breaker is not needed.
func (p *placer) holdsDiskless(out []storagev1alpha1.Replica) bool {
	return slices.ContainsFunc(out, func(r storagev1alpha1.Replica) bool { return !p.c.byName[r.Node].evacuating })
}

// HasDRBD reports whether the group's layer list has DRBD (default: yes).
func HasDRBD(rg *storagev1alpha1.ResourceGroup) bool {
	return len(rg.LayerList) == 0 || slices.ContainsFunc(rg.LayerList, func(l string) bool { return strings.EqualFold(l, "drbd") })
}

// remaining lists up to room nodes without a replica and not cordoned, in
// rendezvous order (so the cap at 32 node ids is stable).
func (p *placer) remaining(v *storagev1alpha1.StorageVolume, holds map[string]bool, room int) []*node {
	h := hashString(v.Name)
	var out []*node
	for _, n := range p.c.nodes {
		if !n.cordoned && !holds[n.name] {
			out = append(out, n)
		}
	}
	slices.SortFunc(out, func(a, b *node) int { return cmp.Compare(rendezvous(h, b.hash), rendezvous(h, a.hash)) })
	if len(out) > room {
		out = out[:max(room, 0)]
	}
	return out
}

// tieBreaker picks the node for a diskless quorum tie-breaker: the previous
// one while it is still fit; else the node that shares the replicasOnSame
// values of the diskful replicas, then has the most replicasOnDifferent
// values distinct from theirs, then the fewest diskless replicas, then the
// highest rendezvous weight.
func (p *placer) tieBreaker(g *groupIndex, st *volumeState, diskful []storagev1alpha1.Replica, holds map[string]bool) (*node, string) {
	if n := p.c.byName[st.prevTieBreaker]; n != nil && !n.cordoned && !holds[n.name] {
		return n, "tie-breaker for DRBD quorum between 2 diskful replicas, kept"
	}
	disk := []*node{p.c.byName[diskful[0].Node], p.c.byName[diskful[1].Node]}
	volHash := hashString(diskful[0].Node + "\x00" + diskful[1].Node)
	type score struct {
		same, distinct, diskless int
		hash                     uint64
	}
	better := func(a, b score) bool {
		if a.same != b.same {
			return a.same > b.same
		}
		if a.distinct != b.distinct {
			return a.distinct > b.distinct
		}
		if a.diskless != b.diskless {
			return a.diskless < b.diskless
		}
		return a.hash > b.hash
	}
	var best *node
	var bestScore score
	candidates := 0
	for _, n := range p.c.nodes {
		if n.cordoned || holds[n.name] {
			continue
		}
		candidates++
		s := score{same: sameValues(g, n, disk[0]), distinct: distinctValues(g, n, disk), diskless: n.diskless, hash: rendezvous(volHash, n.hash)}
		if best == nil || better(s, bestScore) {
			best, bestScore = n, s
		}
	}
	if best == nil {
		return nil, ""
	}
	reason := fmt.Sprintf("tie-breaker for DRBD quorum between 2 diskful replicas: %s on the node among %s",
		plural(bestScore.diskless, "other diskless replica"), plural(candidates, "candidate"))
	if len(g.diffKeys) > 0 {
		reason += fmt.Sprintf("; %d of %d replicasOnDifferent keys differ from the diskful replicas", bestScore.distinct, len(g.diffKeys))
	}
	return best, reason
}

// sameValues counts the replicasOnSame keys on which n agrees with ref.
func sameValues(g *groupIndex, n, ref *node) int {
	count := 0
	for _, k := range g.rg.ReplicasOnSame {
		key, _, _ := strings.Cut(k, "=")
		a, ok1 := n.value(key)
		b, ok2 := ref.value(key)
		if ok1 && ok2 && a == b {
			count++
		}
	}
	return count
}

// distinctValues counts the replicasOnDifferent keys on which n differs from all of others.
func distinctValues(g *groupIndex, n *node, others []*node) int {
	count := 0
	for _, k := range g.diffKeys {
		v, ok := n.value(k)
		if !ok {
			continue
		}
		if !slices.ContainsFunc(others, func(o *node) bool { ov, _ := o.value(k); return ov == v }) {
			count++
		}
	}
	return count
}
