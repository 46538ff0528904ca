package placement

import (
	"fmt"
	"slices"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
)

// Default allocation ranges, as LINSTOR and DRBD have them.
const (
	DefaultPortMin  = 7000
	DefaultPortMax  = 7999
	DefaultMinorMin = 1000
	DefaultMinorMax = 1048575
)

// allocationRange is one numbered resource volumes draw from.
type allocationRange struct {
	what     string // "DRBD port"
	min, max int32
	used     map[int32]string // number → volume
	next     int32
}

func newRange(what string, lo, hi, defLo, defHi int32) (*allocationRange, error) {
	if lo == 0 && hi == 0 {
		lo, hi = defLo, defHi
	}
	if lo > hi || lo < 0 {
		return nil, &AllocationError{Message: fmt.Sprintf("%s range %d-%d is empty", what, lo, hi)}
	}
	return &allocationRange{what: what, min: lo, max: hi, used: map[int32]string{}, next: lo}, nil
}

// claim records an existing allocation; two volumes on one number is an error.
func (r *allocationRange) claim(n int32, volume string) error {
	if other, ok := r.used[n]; ok {
		return &AllocationError{Message: fmt.Sprintf("%s %d is allocated to both volume %s and volume %s", r.what, n, other, volume)}
	}
	r.used[n] = volume
	return nil
}

// take allocates the lowest free number.
func (r *allocationRange) take(volume string) (int32, error) {
	for r.next <= r.max {
		n := r.next
		r.next++
		if _, ok := r.used[n]; !ok {
			r.used[n] = volume
			return n, nil
		}
	}
	return 0, &AllocationError{Message: fmt.Sprintf("no free %s in range %d-%d for volume %s: all %d are in use; widen the range",
		r.what, r.min, r.max, volume, int(r.max-r.min)+1)}
}

// allocatePortsAndMinors keeps existing ports and minors and gives the
// DRBD volumes without one the lowest free number, in volume-name order;
// storage-only volumes get none.
func allocatePortsAndMinors(a storagev1alpha1.AllocationSettings, vols []storagev1alpha1.Volume, states []volumeState) error {
	ports, err := newRange("DRBD port", a.PortMin, a.PortMax, DefaultPortMin, DefaultPortMax)
	if err != nil {
		return err
	}
	minors, err := newRange("DRBD minor", a.MinorMin, a.MinorMax, DefaultMinorMin, DefaultMinorMax)
	if err != nil {
		return err
	}
	for i := range vols {
		if n := states[i].port; n != 0 {
			if err := ports.claim(n, vols[i].Name); err != nil {
				return err
			}
		}
		if n := states[i].minor; n != 0 {
			if err := minors.claim(n, vols[i].Name); err != nil {
				return err
			}
		}
	}
	for i := range vols {
		st := &states[i]
		if !st.drbd {
			continue
		}
		if st.port == 0 {
			if st.port, err = ports.take(vols[i].Name); err != nil {
				return err
			}
		}
		if st.minor == 0 {
			if st.minor, err = minors.take(vols[i].Name); err != nil {
				return err
			}
		}
	}
	return nil
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
			conflicts = append(conflicts, fmt.Sprintf("the replica on %s has DRBD node id %d, out of range (0-%d) or another replica's; it is not rewritten: fix the previous topology",
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
