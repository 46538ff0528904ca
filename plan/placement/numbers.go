package placement

import (
	"cmp"
	"fmt"
	"slices"
)

// Default allocation ranges, as LINSTOR and DRBD have them.
const (
	DefaultPortMin  = 7000
	DefaultPortMax  = 7999
	DefaultMinorMin = 1000
	DefaultMinorMax = 1048575
)

// What a Numbers range hands out.
const (
	KindPort  = "port"
	KindMinor = "minor"
)

// Holder is the volume holding a number (its uid, when known, so that a
// re-created volume of the same name does not inherit it).
type Holder struct {
	Volume, UID string
}

// Held is one number and its holder.
type Held struct {
	Number int32
	Holder Holder
}

// Numbers is one node's range of DRBD ports or minors and who holds each.
// A number only has to be unique on the node that uses it (DRBD listens on
// a port of its node; a minor names a device of its node), so each node has
// its own: with the default 1000 ports, every node can hold 1000 replicas
// whatever the number of nodes and volumes. The offline planner and the
// controller's NodeAllocation ledgers both allocate through this type.
type Numbers struct {
	What, Node string
	Lo, Hi     int32
	holders    map[int32]Holder
	byHolder   map[Holder][]int32
	next       int32 // no number below next is free
}

// NewNumbers is an empty range; lo = hi = 0 means the default range of what.
func NewNumbers(what, node string, lo, hi int32) *Numbers {
	if lo == 0 && hi == 0 {
		lo, hi = DefaultPortMin, DefaultPortMax
		if what == KindMinor {
			lo, hi = DefaultMinorMin, DefaultMinorMax
		}
	}
	return &Numbers{What: what, Node: node, Lo: lo, Hi: hi, holders: map[int32]Holder{}, byHolder: map[Holder][]int32{}, next: lo}
}

// NumberConflictError is a number recorded for one volume but held by another.
type NumberConflictError struct {
	What, Node     string
	Number         int32
	Volume, Holder string
}

func (e *NumberConflictError) Error() string {
	return fmt.Sprintf("DRBD %s %d on node %s is recorded for volume %s but held by volume %s",
		e.What, e.Number, e.Node, e.Volume, e.Holder)
}

// ExhaustedError is a range with no free number left.
type ExhaustedError struct {
	What, Node, Volume string
	Lo, Hi             int32
}

func (e *ExhaustedError) Error() string {
	return fmt.Sprintf("node %s: no free DRBD %s in %d-%d for volume %s: all %d are in use; widen the range (LinstorCluster allocation)",
		e.Node, e.What, e.Lo, e.Hi, e.Volume, int(e.Hi-e.Lo)+1)
}

// Claim registers a number a volume already records. It reports whether the
// range changed; another holder is a *NumberConflictError.
func (n *Numbers) Claim(num int32, h Holder) (bool, error) {
	if cur, ok := n.holders[num]; ok {
		if cur == h {
			return false, nil
		}
		return false, &NumberConflictError{What: n.What, Node: n.Node, Number: num, Volume: h.Volume, Holder: cur.Volume}
	}
	n.set(num, h)
	return true, nil
}

// Take gives h a number: one it already holds and taken does not list (a
// reservation made before a restart), else prefer when free and in range,
// else the lowest free number. It reports whether the range changed.
func (n *Numbers) Take(h Holder, prefer int32, taken map[int32]bool) (int32, bool, error) {
	for _, num := range n.byHolder[h] {
		if !taken[num] {
			return num, false, nil
		}
	}
	if prefer >= n.Lo && prefer <= n.Hi && !taken[prefer] {
		if _, held := n.holders[prefer]; !held {
			n.set(prefer, h)
			return prefer, true, nil
		}
	}
	for num := max(n.next, n.Lo); num <= n.Hi; num++ {
		if _, held := n.holders[num]; held || taken[num] {
			continue
		}
		n.set(num, h)
		return num, true, nil
	}
	return 0, false, &ExhaustedError{What: n.What, Node: n.Node, Volume: h.Volume, Lo: n.Lo, Hi: n.Hi}
}

// Release frees every number h holds; it reports whether any was held.
func (n *Numbers) Release(h Holder) bool {
	nums := n.byHolder[h]
	for _, num := range nums {
		delete(n.holders, num)
		n.next = min(n.next, num)
	}
	delete(n.byHolder, h)
	return len(nums) > 0
}

// Len is how many numbers are in use.
func (n *Numbers) Len() int { return len(n.holders) }

// Held lists the numbers in use, ascending.
func (n *Numbers) Held() []Held {
	out := make([]Held, 0, len(n.holders))
	for num, h := range n.holders {
		out = append(out, Held{Number: num, Holder: h})
	}
	slices.SortFunc(out, func(a, b Held) int { return cmp.Compare(a.Number, b.Number) })
	return out
}

func (n *Numbers) set(num int32, h Holder) {
	n.holders[num] = h
	nums := append(n.byHolder[h], num)
	slices.Sort(nums)
	n.byHolder[h] = nums
	if num == n.next {
		for n.next <= n.Hi {
			if _, held := n.holders[n.next]; !held {
				break
			}
			n.next++
		}
	}
}
