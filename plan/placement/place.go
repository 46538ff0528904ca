package placement

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
)

// Place places every volume of vols on the topology's nodes and returns
// copies of them, sorted by name, with their replicas, node ids and (unless
// opts.NoNumbers) per-node DRBD ports and minors; see the package
// documentation for the rules. Placements and allocations a volume records
// are kept; a volume that records none takes them from previous (the last
// plan's volumes, by name) when it has them there.
//
// Volumes that cannot get all their diskful replicas are listed in
// Result.Unplaced (and placed as far as possible); unless
// opts.AllowUnplaced, Place then also returns an *UnplacedError. Exhausted
// or conflicting allocations return an *AllocationError and no result.
func Place(topo *storagev1alpha1.StorageTopologySpec, vols, previous []storagev1alpha1.StorageVolume, opts Options) (*Result, error) {
	if topo == nil {
		return nil, errors.New("placement: no topology spec")
	}
	out := make([]storagev1alpha1.StorageVolume, len(vols))
	for i := range vols {
		vols[i].DeepCopyInto(&out[i])
	}
	slices.SortFunc(out, func(a, b storagev1alpha1.StorageVolume) int { return cmp.Compare(a.Name, b.Name) })
	p := &placer{
		c:       newCluster(topo, opts),
		groups:  map[string]*storagev1alpha1.ResourceGroup{},
		indexes: map[string]*groupIndex{},
		result:  &Result{Volumes: out},
		now:     opts.Now,
	}
	for i := range topo.ResourceGroups {
		p.groups[topo.ResourceGroups[i].Name] = &topo.ResourceGroups[i]
	}
	prev := map[string]*storagev1alpha1.StorageVolume{}
	for i := range previous {
		prev[previous[i].Name] = &previous[i]
	}
	states := make([]volumeState, len(out))
	drbd := make([]bool, len(out))
	for i := range out {
		states[i] = p.carryOver(&out[i], prev[out[i].Name])
		if rg := p.groups[out[i].Spec.ResourceGroup]; rg != nil {
			drbd[i] = HasDRBD(rg)
			states[i].drbd = drbd[i]
		}
	}
	for i := range out {
		if err := p.place(&out[i], &states[i]); err != nil {
			return nil, err
		}
	}
	if !opts.NoNumbers {
		if err := allocateNumbers(topo.Allocation, out, drbd, opts.Ledgers); err != nil {
			return nil, err
		}
	}
	return p.finish(opts)
}

// placer carries the state of one Place call.
type placer struct {
	c       *cluster
	groups  map[string]*storagev1alpha1.ResourceGroup
	indexes map[string]*groupIndex
	result  *Result
	stamp   uint64
	now     time.Time // Options.Now
}

// volumeState is what carryOver learnt about a volume's existing state.
type volumeState struct {
	kept           []storagev1alpha1.Replica // diskful, staying
	evacuees       []storagev1alpha1.Replica // diskful on storage-cordoned nodes
	evacuating     []storagev1alpha1.Replica // diskful on evacuating nodes
	status         *storagev1alpha1.StorageVolumeStatus
	keptDiskless   []storagev1alpha1.Replica // diskless (not tie-breaker), staying
	prevTieBreaker string
	prevIDs        map[string]int32 // node → node id of the existing replicas
	// prevNumbers: node → the existing replica's port and minors; a replica
	// placed again on the same node (a tie-breaker chosen anew) keeps them.
	prevNumbers map[string]storagev1alpha1.Replica
	leaving     []Move // diskful replicas that must leave (To filled later)
	// drbd: the volume's layers include DRBD, so its replicas need ports,
	// minors and node ids; a storage-only volume gets none.
	drbd bool
}

// carryOver takes the volume's existing replicas (its own, else the previous
// spec's), keeps what may stay and accounts the space they use.
func (p *placer) carryOver(v *storagev1alpha1.StorageVolume, prev *storagev1alpha1.StorageVolume) volumeState {
	st := volumeState{prevIDs: map[string]int32{}, prevNumbers: map[string]storagev1alpha1.Replica{}, status: &v.Status}
	src := v.Spec.Replicas
	if prev != nil && len(src) == 0 {
		src = prev.Spec.Replicas
		st.status = &prev.Status
	}
	v.Spec.Replicas = nil
	for _, r := range src {
		st.prevIDs[r.Node] = r.NodeID
		st.prevNumbers[r.Node] = r
		n := p.c.byName[r.Node]
		switch {
		case r.Diskless && r.TieBreaker:
			st.prevTieBreaker = r.Node
		case r.Diskless:
			// On an evacuating node a diskless replica holds no data: it
			// leaves, unless a Pod still uses it there.
			if n != nil && (!n.cordoned || n.lost || n.evacuating && inUse(st.status, r.Node)) {
				r.Reason = keptReason(r.Reason)
				st.keptDiskless = append(st.keptDiskless, r)
				if n.evacuating {
					p.result.Moves = append(p.result.Moves, Move{Volume: v.Name, From: r.Node, Why: "node is evacuated", Step: StepDiskless})
				}
			} else if n != nil && n.evacuating {
				p.result.Moves = append(p.result.Moves, Move{Volume: v.Name, From: r.Node, Why: "node is evacuated", Step: StepDrop})
			}
		case n == nil:
			st.leaving = append(st.leaving, Move{Volume: v.Name, From: r.Node, Why: "node is gone"})
		case n.pool(r.StoragePool) == nil:
			st.leaving = append(st.leaving, Move{Volume: v.Name, From: r.Node, Why: fmt.Sprintf("node no longer has pool %s", r.StoragePool)})
		default:
			n.pool(r.StoragePool).allocated += v.Spec.SizeBytes()
			if p.c.trackVolumes {
				n.volumes = append(n.volumes, v.Name)
			}
			r.Reason = keptReason(r.Reason)
			switch {
			case n.evacuating:
				st.evacuating = append(st.evacuating, r)
			case n.cordoned && !n.lost:
				st.evacuees = append(st.evacuees, r)
			default:
				st.kept = append(st.kept, r)
			}
		}
	}
	for _, r := range st.keptDiskless {
		p.c.byName[r.Node].diskless++
	}
	return st
}

// keptReason keeps the reason a replica was placed with, once given.
func keptReason(prev string) string {
	if prev != "" {
		return prev
	}
	return "existing replica, kept"
}

// index returns the group index of a resource group, building it once.
func (p *placer) index(name string) (*groupIndex, error) {
	if g, ok := p.indexes[name]; ok {
		return g, nil
	}
	rg, ok := p.groups[name]
	if !ok {
		return nil, fmt.Errorf("placement: resource group %q not found in the topology", name)
	}
	g, err := newGroupIndex(p.c, rg)
	if err != nil {
		return nil, err
	}
	p.indexes[name] = g
	return g, nil
}

// place chooses the volume's replicas and node ids.
func (p *placer) place(v *storagev1alpha1.StorageVolume, st *volumeState) error {
	g, err := p.index(v.Spec.ResourceGroup)
	if err != nil {
		return fmt.Errorf("volume %s: %w", v.Name, err)
	}
	want := int(g.rg.PlaceCount)
	if len(g.rg.NodeList) > 0 {
		want = len(g.rg.NodeList)
	}
	var added []storagev1alpha1.Replica
	var why []string
	if need := want - len(st.kept); need > 0 {
		if len(g.rg.NodeList) > 0 {
			added, why = p.placeListed(g, v, st)
		} else {
			added, why = p.autoplace(g, v, st, need)
		}
	}
	diskful := p.settleEvacuees(v, st, added, want, why)
	// Diskless replicas are chosen for the end state: a replica staying on
	// an evacuating node does not make a tie-breaker come and go.
	staying := slices.DeleteFunc(slices.Clone(diskful), func(r storagev1alpha1.Replica) bool { return p.c.byName[r.Node].evacuating })
	replicas := append(diskful, p.diskless(g, v, st, staying)...)
	var conflicts []string
	if st.drbd {
		var err error
		if conflicts, err = assignNodeIDs(v.Name, replicas, st.prevIDs); err != nil {
			return err
		}
		why = append(why, conflicts...)
		for i := range replicas {
			if prev, ok := st.prevNumbers[replicas[i].Node]; ok && replicas[i].Port == 0 && len(replicas[i].Minors) == 0 {
				replicas[i].Port, replicas[i].Minors = prev.Port, prev.Minors
			}
		}
	}
	// A volume short of replicas, or whose node ids conflict, is reported:
	// it fails the plan unless AllowUnplaced, and never stops the others.
	if len(diskful) < want || len(conflicts) > 0 {
		p.result.Unplaced = append(p.result.Unplaced, Unplaced{
			Volume: v.Name, ResourceGroup: g.rg.Name, Wanted: want, Placed: len(diskful), Reasons: why,
		})
	}
	slices.SortFunc(replicas, func(a, b storagev1alpha1.Replica) int { return cmp.Compare(a.Node, b.Node) })
	v.Spec.Replicas = replicas
	return nil
}

// settleEvacuees returns the volume's diskful replicas: kept and added ones,
// plus replicas on storage-cordoned nodes as long as too few others exist.
// It records the moves of replicas that left.
func (p *placer) settleEvacuees(v *storagev1alpha1.StorageVolume, st *volumeState, added []storagev1alpha1.Replica, want int, why []string) []storagev1alpha1.Replica {
	count := len(st.kept) + len(added)
	leaving := slices.Clone(st.leaving)
	var stay []storagev1alpha1.Replica
	for _, r := range st.evacuees {
		if count < want {
			r.Reason = "kept on storage-cordoned node: no other node can take it; " + r.Reason
			stay = append(stay, r)
			count++
			continue
		}
		leaving = append(leaving, Move{Volume: v.Name, From: r.Node, Why: "node is storage-cordoned"})
		p.c.byName[r.Node].pool(r.StoragePool).allocated -= v.Spec.SizeBytes()
	}
	for i := range leaving {
		if i < len(added) {
			leaving[i].To = added[i].Node
			added[i].Reason = fmt.Sprintf("replaces replica on %s (%s); %s", leaving[i].From, leaving[i].Why, added[i].Reason)
			if len(st.kept)+len(st.evacuees)+len(st.evacuating) == 0 {
				leaving[i].Why += "; no replica holding the data is left, the new one starts empty"
			}
		}
		p.result.Moves = append(p.result.Moves, leaving[i])
	}
	stay = append(stay, p.evacuate(v, st, added[min(len(leaving), len(added)):], want, why)...)
	return slices.Concat(st.kept, added, stay)
}

// autoplace chooses need new diskful replicas. With replicasOnSame and no
// existing replica to anchor the value, it tries the best value combination
// first and moves on to the next when that one cannot hold them all.
func (p *placer) autoplace(g *groupIndex, v *storagev1alpha1.StorageVolume, st *volumeState, need int) ([]storagev1alpha1.Replica, []string) {
	excluded := map[string]bool{}
	var best []pickResult
	var bestSel *selection
	for {
		sel := p.newSelection(g, v, st)
		sel.excluded = excluded
		var picks []pickResult
		for len(picks) < need {
			r := g.pick(sel)
			if r.c == nil {
				break
			}
			picks = append(picks, r)
			g.take(sel, r.c.p.node)
		}
		if len(picks) > len(best) || best == nil {
			best, bestSel = picks, sel
		}
		if len(picks) == need || len(picks) == 0 || len(g.sameKeys) == 0 || len(st.kept) > 0 {
			break
		}
		excluded[picks[0].c.sameKey] = true
	}
	added := make([]storagev1alpha1.Replica, len(best))
	for i, r := range best {
		added[i] = storagev1alpha1.Replica{Node: r.c.p.node.name, StoragePool: r.c.p.name, Reason: g.reason(r)}
		r.c.p.allocated += v.Spec.SizeBytes()
		if p.c.trackVolumes {
			r.c.p.node.volumes = append(r.c.p.node.volumes, v.Name)
		}
	}
	var why []string
	if len(best) < need {
		why = p.diagnose(g, v, st, bestSel, need)
	}
	return added, why
}

// newSelection starts choosing replicas for a volume: its kept replicas'
// nodes are taken.
func (p *placer) newSelection(g *groupIndex, v *storagev1alpha1.StorageVolume, st *volumeState) *selection {
	p.stamp++
	sel := &selection{volHash: hashString(v.Name), size: v.Spec.SizeBytes(), stamp: p.stamp, diffTaken: make([][]int32, len(g.diffKeys)),
		xCount: make([]map[int32]int32, len(g.xKeys))}
	for k := range sel.xCount {
		sel.xCount[k] = map[int32]int32{}
	}
	for _, r := range st.kept {
		g.take(sel, p.c.byName[r.Node])
	}
	return sel
}

// placeListed places diskful replicas on the group's nodeList.
func (p *placer) placeListed(g *groupIndex, v *storagev1alpha1.StorageVolume, st *volumeState) ([]storagev1alpha1.Replica, []string) {
	var added []storagev1alpha1.Replica
	var why []string
	for _, name := range g.rg.NodeList {
		if slices.ContainsFunc(st.kept, func(r storagev1alpha1.Replica) bool { return r.Node == name }) {
			continue
		}
		n := p.c.byName[name]
		var pl *pool
		if n != nil {
			pl = firstAllowedPool(g, n)
		}
		switch {
		case n == nil:
			why = append(why, fmt.Sprintf("nodeList names %s, which is not a storage node", name))
		case n.cordoned:
			why = append(why, fmt.Sprintf("nodeList names %s, which is storage-cordoned", name))
		case pl == nil:
			why = append(why, fmt.Sprintf("nodeList names %s, which has no pool %s", name, poolsText(g)))
		case !pl.fits(v.Spec.SizeBytes()):
			free, _ := pl.free()
			why = append(why, fmt.Sprintf("nodeList names %s, whose pool %s has %s free, less than %s", name, pl.name, bytesIEC(free), bytesIEC(v.Spec.SizeBytes())))
		default:
			pl.allocated += v.Spec.SizeBytes()
			added = append(added, storagev1alpha1.Replica{Node: name, StoragePool: pl.name, Reason: fmt.Sprintf("nodeList of resource group %s; pool %s", g.rg.Name, pl.name)})
		}
	}
	return added, why
}

// firstAllowedPool is the node's first pool (by name) the group allows.
func firstAllowedPool(g *groupIndex, n *node) *pool {
	for _, pl := range n.pools {
		if g.allowsPool(pl.name) {
			return pl
		}
	}
	return nil
}

// finish sorts the report and applies Options.AllowUnplaced.
func (p *placer) finish(opts Options) (*Result, error) {
	r := p.result
	slices.SortFunc(r.Moves, func(a, b Move) int { return cmp.Or(cmp.Compare(a.Volume, b.Volume), cmp.Compare(a.From, b.From)) })
	if len(r.Unplaced) > 0 && !opts.AllowUnplaced {
		return r, &UnplacedError{Unplaced: r.Unplaced}
	}
	return r, nil
}
