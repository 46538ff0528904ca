package placement

import (
	"fmt"
	"slices"
)

// The conditions a node must meet to take a new diskful replica of a
// volume of a resource group. The decision uses them (newGroupIndex the
// ones that hold for every volume of the group, pick the ones that depend
// on the volume) and diagnose explains a failed placement with the very
// same functions, in the order of nodeFilters, so the explanation cannot
// drift from the decision.

// offersPool: the node has a pool the group allows.
func (g *groupIndex) offersPool(n *node) bool { return firstAllowedPool(g, n) != nil }

// ready: the node is not storage-cordoned (nor leaving the cluster).
func ready(n *node) bool { return !n.cordoned }

// keyed: the node has the pinned replicasOnSame values and a value for
// every other placement key.
func (g *groupIndex) keyed(n *node) bool {
	for k, want := range g.pinned {
		if v, ok := n.value(k); !ok || v != want {
			return false
		}
	}
	for _, k := range slices.Concat(g.diffKeys, g.sameKeys, g.xKeys) {
		if _, ok := n.value(k); !ok {
			return false
		}
	}
	return true
}

// roomFor: one of the node's pools the group allows fits size.
func (g *groupIndex) roomFor(n *node, size int64) bool {
	for _, p := range n.pools {
		if g.allowsPool(p.name) && p.fits(size) {
			return true
		}
	}
	return false
}

// apart: the node holds no volume matching the group's doNotPlaceWithRegex.
func (g *groupIndex) apart(n *node) bool { return g.re == nil || !n.holdsMatching(g.re) }

// holds: the node already holds a replica of the volume being placed.
func (sel *selection) holds(n *node) bool { return n.mark == sel.stamp }

// nodeFilter is one condition of a new diskful replica, with how diagnose
// reports the nodes that meet it. A node that already holds a replica of
// the volume meets the volume's conditions (it is counted, not chosen).
type nodeFilter struct {
	ok   func(g *groupIndex, n *node, sel *selection) bool
	what func(g *groupIndex, sel *selection, of int) string
}

// nodeFilters are the conditions in the order diagnose reports them.
var nodeFilters = []nodeFilter{
	{
		ok: func(g *groupIndex, n *node, _ *selection) bool { return g.offersPool(n) },
		what: func(g *groupIndex, _ *selection, of int) string {
			return fmt.Sprintf("of %s have %s", plural(of, "node"), poolsText(g))
		},
	},
	{
		ok:   func(_ *groupIndex, n *node, _ *selection) bool { return ready(n) },
		what: func(*groupIndex, *selection, int) string { return "of them are not storage-cordoned or leaving" },
	},
	{
		ok: func(g *groupIndex, n *node, sel *selection) bool { return g.roomFor(n, sel.size) || sel.holds(n) },
		what: func(_ *groupIndex, sel *selection, _ int) string {
			return "of them have free space ≥ " + bytesIEC(sel.size)
		},
	},
	{
		ok:   func(g *groupIndex, n *node, _ *selection) bool { return g.keyed(n) },
		what: func(*groupIndex, *selection, int) string { return "of them have a value for every placement key" },
	},
	{
		ok: func(g *groupIndex, n *node, sel *selection) bool { return g.apart(n) || sel.holds(n) },
		what: func(g *groupIndex, _ *selection, _ int) string {
			return fmt.Sprintf("of them hold no volume matching doNotPlaceWithRegex %q", g.rg.DoNotPlaceWithRegex)
		},
	},
}
