package placement

import (
	"fmt"
	"slices"
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
	var withPool, ready, roomy, keyed, allowed []*node
	for _, n := range p.c.nodes {
		if firstAllowedPool(g, n) != nil {
			withPool = append(withPool, n)
		}
	}
	if !stage(len(withPool), fmt.Sprintf("of %s have %s", plural(len(p.c.nodes), "node"), pools)) {
		return why
	}
	for _, n := range withPool {
		if !n.cordoned {
			ready = append(ready, n)
		}
	}
	if len(ready) < len(withPool) && !stage(len(ready), "of them are not storage-cordoned") {
		return why
	}
	for _, n := range ready {
		if hasRoom(g, n, v.Spec.SizeBytes()) || n.mark == sel.stamp {
			roomy = append(roomy, n)
		}
	}
	if len(roomy) < len(ready) && !stage(len(roomy), "of them have free space ≥ "+bytesIEC(v.Spec.SizeBytes())) {
		return why
	}
	for _, n := range roomy {
		if g.pinnedMatch(n) && hasKeys(g, n) {
			keyed = append(keyed, n)
		}
	}
	if len(keyed) < len(roomy) && !stage(len(keyed), "of them have a value for every placement key") {
		return why
	}
	for _, n := range keyed {
		if g.re == nil || !n.holdsMatching(g.re) || n.mark == sel.stamp {
			allowed = append(allowed, n)
		}
	}
	if len(allowed) < len(keyed) && !stage(len(allowed), fmt.Sprintf("of them hold no volume matching doNotPlaceWithRegex %q", g.rg.DoNotPlaceWithRegex)) {
		return why
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

func hasRoom(g *groupIndex, n *node, size int64) bool {
	for _, p := range n.pools {
		if g.allowsPool(p.name) && p.fits(size) {
			return true
		}
	}
	return false
}

func hasKeys(g *groupIndex, n *node) bool {
	for _, k := range slices.Concat(g.diffKeys, g.sameKeys, g.xKeys) {
		if _, ok := n.value(k); !ok {
			return false
		}
	}
	return true
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
