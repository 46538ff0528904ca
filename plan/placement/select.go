package placement

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
)

// groupIndex holds, per resource group, the (node, pool) pairs that can ever
// take a diskful replica of it, with their placement-key values as small ids.
type groupIndex struct {
	rg       *storagev1alpha1.ResourceGroup
	re       *regexp.Regexp
	diffKeys []string
	sameKeys []string          // replicasOnSame keys without a pinned value
	xKeys    []string          // xReplicasOnDifferent keys, sorted
	xMax     []int32           // xReplicasOnDifferent X of each of xKeys
	pinned   map[string]string // replicasOnSame key=value
	ids      []map[string]int32
	cands    []cand
}

// cand is one (node, pool) a diskful replica of the group may go to.
type cand struct {
	p       *pool
	diff    []int32 // value ids of diffKeys
	same    []int32 // value ids of sameKeys
	x       []int32 // value ids of xKeys
	sameKey string  // same, joined, for excluding a combination
}

func newGroupIndex(c *cluster, rg *storagev1alpha1.ResourceGroup) (*groupIndex, error) {
	g := &groupIndex{rg: rg, diffKeys: rg.ReplicasOnDifferent, pinned: map[string]string{}}
	if rg.DoNotPlaceWithRegex != "" {
		re, err := regexp.Compile(rg.DoNotPlaceWithRegex)
		if err != nil {
			return nil, fmt.Errorf("resource group %s: doNotPlaceWithRegex: %w", rg.Name, err)
		}
		g.re = re
	}
	for _, k := range rg.ReplicasOnSame {
		if key, val, ok := strings.Cut(k, "="); ok {
			g.pinned[key] = val
		} else {
			g.sameKeys = append(g.sameKeys, k)
		}
	}
	g.xKeys = slices.Sorted(maps.Keys(rg.XReplicasOnDifferent))
	for _, k := range g.xKeys {
		g.xMax = append(g.xMax, rg.XReplicasOnDifferent[k])
	}
	g.ids = make([]map[string]int32, len(g.diffKeys)+len(g.sameKeys)+len(g.xKeys))
	for i := range g.ids {
		g.ids[i] = map[string]int32{}
	}
	for _, n := range c.nodes {
		if !ready(n) || !g.keyed(n) {
			continue
		}
		diff, ok1 := g.values(n, g.diffKeys, 0)
		same, ok2 := g.values(n, g.sameKeys, len(g.diffKeys))
		x, ok3 := g.values(n, g.xKeys, g.xOffset())
		if !ok1 || !ok2 || !ok3 {
			continue
		}
		for _, p := range n.pools {
			if g.allowsPool(p.name) {
				g.cands = append(g.cands, cand{p: p, diff: diff, same: same, x: x, sameKey: fmt.Sprint(same)})
			}
		}
	}
	return g, nil
}

// xOffset is where the xKeys' value ids start in g.ids.
func (g *groupIndex) xOffset() int { return len(g.diffKeys) + len(g.sameKeys) }

// allowsPool reports whether the group may use a pool of that name.
func (g *groupIndex) allowsPool(name string) bool {
	return len(g.rg.StoragePools) == 0 || slices.Contains(g.rg.StoragePools, name)
}

// values maps the node's values of keys to ids (offset into g.ids); ok is
// false when the node lacks one.
func (g *groupIndex) values(n *node, keys []string, offset int) ([]int32, bool) {
	if len(keys) == 0 {
		return nil, true
	}
	ids := make([]int32, len(keys))
	for i, k := range keys {
		v, ok := n.value(k)
		if !ok {
			return nil, false
		}
		m := g.ids[offset+i]
		id, seen := m[v]
		if !seen {
			id = int32(len(m))
			m[v] = id
		}
		ids[i] = id
	}
	return ids, true
}

// selection is the state of choosing the diskful replicas of one volume.
type selection struct {
	volHash   uint64
	size      int64
	stamp     uint64 // marks nodes already holding a replica of this volume
	anchor    []int32
	diffTaken [][]int32         // per diff key, the value ids already used
	xCount    []map[int32]int32 // per xReplicasOnDifferent key, replicas per value id
	excluded  map[string]bool
}

// pickResult is one chosen candidate and the figures that decided it.
type pickResult struct {
	c        *cand
	eligible int
	tied     int
}

// pick returns the best candidate for the next diskful replica, or nil:
// one that fills an xReplicasOnDifferent value already begun, then the
// least allocated, ties broken by rendezvous hash.
func (g *groupIndex) pick(st *selection) pickResult {
	var r pickResult
	var bestHash uint64
	bestFill := 0
	for i := range g.cands {
		c := &g.cands[i]
		n := c.p.node
		if !g.eligible(c, st) || !g.compatible(c, st) {
			continue
		}
		r.eligible++
		fill := g.filling(c, st)
		switch {
		case r.c == nil || fill > bestFill || fill == bestFill && c.p.allocated < r.c.p.allocated:
			r.c, bestHash, r.tied, bestFill = c, rendezvous(st.volHash, n.hash), 0, fill
		case fill == bestFill && c.p.allocated == r.c.p.allocated:
			r.tied++
			if h := rendezvous(st.volHash, n.hash); h > bestHash {
				r.c, bestHash = c, h
			}
		}
	}
	return r
}

// eligible: the candidate may take the volume's next replica, its
// placement-key values aside (see compatible): the conditions of
// nodeFilters that depend on the volume.
func (g *groupIndex) eligible(c *cand, st *selection) bool {
	n := c.p.node
	return !st.holds(n) && c.p.fits(st.size) && g.apart(n)
}

// compatible checks the replicasOnSame anchor and replicasOnDifferent values.
func (g *groupIndex) compatible(c *cand, st *selection) bool {
	if st.anchor != nil && !slices.Equal(c.same, st.anchor) {
		return false
	}
	if len(st.excluded) > 0 && st.excluded[c.sameKey] {
		return false
	}
	for k, id := range c.diff {
		if slices.Contains(st.diffTaken[k], id) {
			return false
		}
	}
	for k, id := range c.x {
		if st.xCount[k][id] >= g.xMax[k] {
			return false
		}
	}
	return true
}

// filling counts the xReplicasOnDifferent keys for which the candidate's
// value already holds a replica of the volume (and has room for another).
func (g *groupIndex) filling(c *cand, st *selection) int {
	n := 0
	for k, id := range c.x {
		if st.xCount[k][id] > 0 {
			n++
		}
	}
	return n
}

// take records a chosen (or kept) replica's node in the selection.
func (g *groupIndex) take(st *selection, n *node) {
	n.mark = st.stamp
	diff, ok := g.values(n, g.diffKeys, 0)
	if ok {
		for k, id := range diff {
			st.diffTaken[k] = append(st.diffTaken[k], id)
		}
	}
	if st.anchor == nil && len(g.sameKeys) > 0 {
		if same, ok := g.values(n, g.sameKeys, len(g.diffKeys)); ok {
			st.anchor = same
		}
	}
	if x, ok := g.values(n, g.xKeys, g.xOffset()); ok {
		for k, id := range x {
			st.xCount[k][id]++
		}
	}
}

// reason explains a pick: the rule and the deciding figures.
func (g *groupIndex) reason(r pickResult) string {
	p := r.c.p
	var b strings.Builder
	fmt.Fprintf(&b, "pool %s: least allocated among %s (%s allocated", p.name, plural(r.eligible, "eligible node"), bytesIEC(p.allocated))
	if free, known := p.free(); known {
		fmt.Fprintf(&b, ", %s free", bytesIEC(free))
		if p.thin && p.limit != p.capacity {
			fmt.Fprintf(&b, " of %s thin-provisioned on %s", bytesIEC(p.limit), bytesIEC(p.capacity))
		} else {
			fmt.Fprintf(&b, " of %s", bytesIEC(p.limit))
		}
	}
	b.WriteString(")")
	if r.tied > 0 {
		fmt.Fprintf(&b, ", tie with %d broken by rendezvous hash", r.tied)
	}
	for _, k := range g.diffKeys {
		v, _ := p.node.value(k)
		fmt.Fprintf(&b, "; replicasOnDifferent %s=%s", k, v)
	}
	for _, k := range g.rg.ReplicasOnSame {
		key, _, _ := strings.Cut(k, "=")
		v, _ := p.node.value(key)
		fmt.Fprintf(&b, "; replicasOnSame %s=%s", key, v)
	}
	for i, k := range g.xKeys {
		v, _ := p.node.value(k)
		fmt.Fprintf(&b, "; xReplicasOnDifferent %s=%s (at most %d)", k, v, g.xMax[i])
	}
	return b.String()
}
