package placement

import (
	"fmt"
	"slices"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
)

// nodeBooks are every node's port and minor ranges during one Place call.
type nodeBooks struct {
	a      storagev1alpha1.AllocationSettings
	ports  map[string]*Numbers
	minors map[string]*Numbers
}

func newNodeBooks(a storagev1alpha1.AllocationSettings) *nodeBooks {
	return &nodeBooks{a: a, ports: map[string]*Numbers{}, minors: map[string]*Numbers{}}
}

func (b *nodeBooks) book(node, what string) *Numbers {
	m, lo, hi := b.ports, b.a.PortMin, b.a.PortMax
	if what == KindMinor {
		m, lo, hi = b.minors, b.a.MinorMin, b.a.MinorMax
	}
	n := m[node]
	if n == nil {
		n = NewNumbers(what, node, lo, hi)
		m[node] = n
	}
	return n
}

// allocateNumbers keeps every port and minor the volumes record and gives
// each DRBD replica without one a number of its own node: preferably the
// one the volume already uses on another node (so a volume's replicas
// usually share one port and one minor), else the node's lowest free.
// Volumes are handled in name order; storage-only volumes get none.
func allocateNumbers(a storagev1alpha1.AllocationSettings, vols []storagev1alpha1.StorageVolume, drbd []bool, ledgers []storagev1alpha1.NodeAllocation) error {
	if a.PortMin > a.PortMax || a.MinorMin > a.MinorMax {
		return &AllocationError{Message: fmt.Sprintf("allocation ranges %d-%d (ports), %d-%d (minors): a range is empty", a.PortMin, a.PortMax, a.MinorMin, a.MinorMax)}
	}
	b := newNodeBooks(a)
	for i := range vols {
		if err := b.claimRecorded(&vols[i]); err != nil {
			return err
		}
	}
	b.claimLedgers(ledgers)
	for i := range vols {
		if drbd[i] {
			if err := b.fill(&vols[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// claimRecorded registers the numbers a volume's replicas record.
func (b *nodeBooks) claimRecorded(v *storagev1alpha1.StorageVolume) error {
	h := Holder{Volume: v.Name, UID: string(v.UID)}
	for _, r := range v.Spec.Replicas {
		nums := map[string][]int32{KindPort: {r.Port}, KindMinor: r.Minors}
		for _, what := range []string{KindPort, KindMinor} {
			for _, num := range nums[what] {
				if num == 0 {
					continue
				}
				if _, err := b.book(r.Node, what).Claim(num, h); err != nil {
					return &AllocationError{Message: err.Error()}
				}
			}
		}
	}
	return nil
}

// claimLedgers registers what the controller's ledgers hold, where the
// volumes do not record another holder (their records win: the ledger
// may hold a stale reservation the controller repairs).
func (b *nodeBooks) claimLedgers(ledgers []storagev1alpha1.NodeAllocation) {
	for _, l := range ledgers {
		for what, entries := range map[string][]storagev1alpha1.AllocationEntry{KindPort: l.Spec.Ports, KindMinor: l.Spec.Minors} {
			for _, e := range entries {
				_, _ = b.book(l.Name, what).Claim(e.Number, Holder{Volume: e.Volume, UID: e.UID})
			}
		}
	}
}

// fill gives the volume's replicas the numbers they lack.
func (b *nodeBooks) fill(v *storagev1alpha1.StorageVolume) error {
	h := Holder{Volume: v.Name, UID: string(v.UID)}
	prefer := preferredNumbers(v)
	for i := range v.Spec.Replicas {
		r := &v.Spec.Replicas[i]
		if r.Port == 0 {
			port, _, err := b.book(r.Node, KindPort).Take(h, prefer.Port, nil)
			if err != nil {
				return &AllocationError{Message: err.Error()}
			}
			r.Port = port
			prefer.Port = cmpOr(prefer.Port, port)
		}
		minors, err := FillMinors(b.book(r.Node, KindMinor), h, r.Minors, prefer.Minors, len(v.Spec.Volumes))
		if err != nil {
			return &AllocationError{Message: err.Error()}
		}
		r.Minors = minors
		for j := range prefer.Minors {
			prefer.Minors[j] = cmpOr(prefer.Minors[j], minors[j])
		}
	}
	return nil
}

// numbersWanted is what a replica should get: a port, and one minor per
// volume definition (0 where the preferred number is not known).
type numbersWanted struct {
	Port   int32
	Minors []int32
}

// preferredNumbers are the numbers the volume already uses on some node.
func preferredNumbers(v *storagev1alpha1.StorageVolume) numbersWanted {
	p := numbersWanted{Minors: make([]int32, len(v.Spec.Volumes))}
	for _, r := range v.Spec.Replicas {
		p.Port = cmpOr(p.Port, r.Port)
		for j := range min(len(r.Minors), len(p.Minors)) {
			p.Minors[j] = cmpOr(p.Minors[j], r.Minors[j])
		}
	}
	return p
}

// FillMinors completes a replica's minors to one per volume definition:
// recorded ones stay, missing ones are taken from the node's range,
// preferring the minors the volume uses elsewhere. The controller's ledger
// allocates through it too.
func FillMinors(book *Numbers, h Holder, have, prefer []int32, count int) ([]int32, error) {
	out := make([]int32, count)
	copy(out, have)
	taken := map[int32]bool{}
	for _, m := range out {
		if m != 0 {
			taken[m] = true
		}
	}
	for j := range out {
		if out[j] != 0 {
			continue
		}
		var pref int32
		if j < len(prefer) {
			pref = prefer[j]
		}
		m, _, err := book.Take(h, pref, taken)
		if err != nil {
			return nil, err
		}
		out[j] = m
		taken[m] = true
	}
	return out, nil
}

func cmpOr(a, b int32) int32 {
	if a != 0 {
		return a
	}
	return b
}

// assignNodeIDs gives each replica a DRBD node id: its previous one when it
// had one, else the lowest id no replica of the volume had, else the lowest
// free id. A previous id out of range or held by another replica is kept as
// it is, never rewritten (DRBD knows the replica by it), and returned as a
// conflict for the caller to report; plan.ValidatePreviousTopology refuses
// such ids with their field before placement runs.
func assignNodeIDs(volume string, replicas []storagev1alpha1.Replica, prev map[string]int32) ([]string, error) {
	var taken, reserved [MaxNodeIDs]bool
	for _, id := range prev {
		if id >= 0 && id < MaxNodeIDs {
			reserved[id] = true
		}
	}
	var conflicts []string
	pending := make([]int, 0, len(replicas))
	for i := range replicas {
		id, ok := prev[replicas[i].Node]
		if !ok {
			pending = append(pending, i)
			continue
		}
		replicas[i].NodeID = id
		if id < 0 || id >= MaxNodeIDs || taken[id] {
			conflicts = append(conflicts, fmt.Sprintf("the replica on %s has DRBD node id %d, out of range (0-%d) or another replica's; it is not rewritten: fix the previous volume",
				replicas[i].Node, id, MaxNodeIDs-1))
			continue
		}
		taken[id] = true
	}
	for _, i := range pending {
		id := slices.IndexFunc(taken[:], func(t bool) bool { return !t })
		for j := range taken {
			if !taken[j] && !reserved[j] {
				id = j
				break
			}
		}
		if id < 0 {
			return conflicts, &AllocationError{Message: fmt.Sprintf("volume %s has %d replicas, more than the %d DRBD node ids (0-%d)", volume, len(replicas), MaxNodeIDs, MaxNodeIDs-1)}
		}
		taken[id] = true
		replicas[i].NodeID = int32(id)
	}
	return conflicts, nil
}
