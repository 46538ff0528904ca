package placement

import (
	"fmt"
	"strings"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
)

// diagnose explains, constraint by constraint, why fewer than the wanted
// diskful replicas could be placed: it follows the nodes through each filter
// and names the first one that leaves too few.
func (p *placer) diagnose(g *groupIndex, v *storagev1alpha1.StorageVolume, st *volumeState, sel *selection, wanted int) []string {
	need := wanted + len(st.kept)
	pools := poolsText(g)
	why := []string{fmt.Sprintf("needs %s with %s", plural(need, "node"), pools) + constraintsText(g)}
	stage := func(count int, what string) bool {
		why = append(why, fmt.Sprintf("%d %s", count, what))
		return count >= need
	}
	allowed := p.c.nodes
	for i, f := range nodeFilters {
		var kept []*node
		for _, n := range allowed {
			if f.ok(g, n, sel) {
				kept = append(kept, n)
			}
		}
		// The first condition is always reported; the others when they
		// leave out a node.
		if (i == 0 || len(kept) < len(allowed)) && !stage(len(kept), f.what(g, sel, len(allowed))) {
			return why
		}
		allowed = kept
	}
	for _, k := range g.diffKeys {
		if d := distinctCount(allowed, k); d < need {
			why = append(why, fmt.Sprintf("only %d distinct values of %s among them (replicasOnDifferent)", d, k))
			return why
		}
	}
	for i, k := range g.xKeys {
		if room := xRoom(allowed, k, int(g.xMax[i])); room < need {
			why = append(why, fmt.Sprintf("only %d fit at most %d per value of %s among them (xReplicasOnDifferent)", room, g.xMax[i], k))
			return why
		}
	}
	for _, k := range g.sameKeys {
		why = append(why, fmt.Sprintf("no value of %s is shared by %s with room (replicasOnSame); largest group: %d",
			k, plural(need, "node"), largestGroup(allowed, k)))
	}
	if len(g.sameKeys) == 0 {
		why = append(why, "no combination of the remaining nodes satisfies every constraint at once")
	}
	return why
}

// poolsText names the pools a group may use.
func poolsText(g *groupIndex) string {
	switch len(g.rg.StoragePools) {
	case 0:
		return "any storage pool"
	case 1:
		return "pool " + g.rg.StoragePools[0]
	}
	return "one of the pools " + strings.Join(g.rg.StoragePools, ", ")
}

// constraintsText names the group's placement-key constraints.
func constraintsText(g *groupIndex) string {
	var b strings.Builder
	for _, k := range g.diffKeys {
		fmt.Fprintf(&b, ", distinct %s", k)
	}
	for _, k := range g.rg.ReplicasOnSame {
		fmt.Fprintf(&b, ", the same %s", k)
	}
	for i, k := range g.xKeys {
		fmt.Fprintf(&b, ", at most %d per value of %s", g.xMax[i], k)
	}
	return b.String()
}

// xRoom is how many replicas nodes can take with at most x per value of key.
func xRoom(nodes []*node, key string, x int) int {
	per := map[string]int{}
	for _, n := range nodes {
		if v, ok := n.value(key); ok {
			per[v]++
		}
	}
	room := 0
	for _, c := range per {
		room += min(c, x)
	}
	return room
}

func distinctCount(nodes []*node, key string) int {
	seen := map[string]bool{}
	for _, n := range nodes {
		if v, ok := n.value(key); ok {
			seen[v] = true
		}
	}
	return len(seen)
}

func largestGroup(nodes []*node, key string) int {
	counts := map[string]int{}
	best := 0
	for _, n := range nodes {
		if v, ok := n.value(key); ok {
			counts[v]++
			best = max(best, counts[v])
		}
	}
	return best
}
