package controller

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	"github.com/piraeusctl/piraeusctl/plan/placement"
)

// Ledger hands out DRBD ports and minors per node through the node's
// NodeAllocation object. Every change is a read-modify-write guarded by the
// object's resourceVersion, so two writers (two controllers, or a controller
// and a plan applied by GitOps) never give one number of a node to two
// volumes: the loser of a race re-reads and chooses again.
type Ledger struct {
	// Client reads (through the cache) and writes NodeAllocations.
	Client client.Client
	// Reader reads past the cache after a conflict.
	Reader client.Reader
	// Now is the clock (reservation times).
	Now func() time.Time
}

// Need is what one replica of one volume needs on its node.
type Need struct {
	Volume, UID, Node string
	// Port and Minors already recorded on the volume (0 / empty: allocate).
	// Minors has one entry per volume definition; 0 entries are allocated.
	Port   int32
	Minors []int32
	// MinorCount is the number of volume definitions.
	MinorCount int
}

// Grant is the port and minors a Need got.
type Grant struct {
	Port   int32
	Minors []int32
}

// ConflictError says a number recorded on a volume is held by another volume.
type ConflictError struct {
	Node, What, Volume, Holder string
	Number                     int32
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("DRBD %s %d on node %s is recorded for volume %s but held by volume %s in NodeAllocation/%s",
		e.What, e.Number, e.Node, e.Volume, e.Holder, e.Node)
}

// Reserve makes sure every need holds its numbers in its node's ledger:
// numbers the volume already records are registered (a ConflictError when
// another volume holds one), missing ones are allocated. Numbers are chosen
// as the lowest free on the node, preferring the number the same volume got
// on a node handled before, so a volume's replicas usually share one port
// and one minor. Needs are handled node by node, one write per node that
// changes; a node whose ledger needs no change costs no write.
func (l *Ledger) Reserve(ctx context.Context, ranges storagev1alpha1.AllocationSettings, needs []Need) (map[string]map[string]Grant, error) {
	byNode := map[string][]Need{}
	for _, n := range needs {
		byNode[n.Node] = append(byNode[n.Node], n)
	}
	nodes := make([]string, 0, len(byNode))
	for n := range byNode {
		nodes = append(nodes, n)
	}
	slices.Sort(nodes)
	grants := map[string]map[string]Grant{} // volume → node → grant
	prefer := map[string]Grant{}            // volume → numbers it got on an earlier node
	var errs []error
	for _, node := range nodes {
		ns := byNode[node]
		slices.SortFunc(ns, func(a, b Need) int { return cmp.Compare(a.Volume, b.Volume) })
		got, err := l.reserveOnNode(ctx, ranges, node, ns, prefer)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for vol, g := range got {
			if grants[vol] == nil {
				grants[vol] = map[string]Grant{}
			}
			grants[vol][node] = g
			if _, ok := prefer[vol]; !ok {
				prefer[vol] = g
			}
		}
	}
	return grants, joinErrors(errs)
}

// reserveOnNode is Reserve for one node, retried on write conflicts.
func (l *Ledger) reserveOnNode(ctx context.Context, ranges storagev1alpha1.AllocationSettings, node string, needs []Need, prefer map[string]Grant) (map[string]Grant, error) {
	var reader client.Reader = l.Client
	for attempt := 0; ; attempt++ {
		na, exists, err := l.get(ctx, reader, node)
		if err != nil {
			return nil, err
		}
		book := newBook(na, ranges)
		got, changed, err := book.satisfy(needs, prefer, l.now())
		if err != nil || !changed {
			return got, err
		}
		book.store(na)
		if exists {
			err = l.Client.Update(ctx, na)
		} else {
			err = l.Client.Create(ctx, na)
		}
		switch {
		case err == nil:
			return got, nil
		case (apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)) && attempt < 20:
			reader = l.Reader
			continue
		default:
			return nil, fmt.Errorf("write NodeAllocation/%s: %w", node, err)
		}
	}
}

// Release drops every number held by the volume with this uid on the given
// nodes (the volume is gone from them). Nodes without such entries cost nothing.
func (l *Ledger) Release(ctx context.Context, uid string, nodes []string) error {
	var errs []error
	for _, node := range nodes {
		errs = append(errs, l.update(ctx, node, func(na *storagev1alpha1.NodeAllocation) bool {
			return dropEntries(na, func(e storagev1alpha1.AllocationEntry) bool { return e.UID == uid })
		}))
	}
	return joinErrors(errs)
}

// Prune drops entries keep says no to, on one node (repair of reservations
// whose volume never recorded them).
func (l *Ledger) Prune(ctx context.Context, node string, keep func(e storagev1alpha1.AllocationEntry, port bool) bool) error {
	return l.update(ctx, node, func(na *storagev1alpha1.NodeAllocation) bool {
		before := len(na.Spec.Ports) + len(na.Spec.Minors)
		na.Spec.Ports = slices.DeleteFunc(na.Spec.Ports, func(e storagev1alpha1.AllocationEntry) bool { return !keep(e, true) })
		na.Spec.Minors = slices.DeleteFunc(na.Spec.Minors, func(e storagev1alpha1.AllocationEntry) bool { return !keep(e, false) })
		return len(na.Spec.Ports)+len(na.Spec.Minors) != before
	})
}

// update applies change to a node's ledger (when it exists) and writes it
// when change reports a change, retrying on conflicts.
func (l *Ledger) update(ctx context.Context, node string, change func(*storagev1alpha1.NodeAllocation) bool) error {
	var reader client.Reader = l.Client
	for attempt := 0; ; attempt++ {
		na, exists, err := l.get(ctx, reader, node)
		if err != nil || !exists || !change(na) {
			return err
		}
		err = l.Client.Update(ctx, na)
		switch {
		case err == nil:
			return nil
		case apierrors.IsConflict(err) && attempt < 20:
			reader = l.Reader
		default:
			return fmt.Errorf("write NodeAllocation/%s: %w", node, err)
		}
	}
}

func (l *Ledger) get(ctx context.Context, r client.Reader, node string) (*storagev1alpha1.NodeAllocation, bool, error) {
	na := &storagev1alpha1.NodeAllocation{}
	err := r.Get(ctx, types.NamespacedName{Name: node}, na)
	switch {
	case err == nil:
		return na, true, nil
	case apierrors.IsNotFound(err):
		return &storagev1alpha1.NodeAllocation{ObjectMeta: metav1.ObjectMeta{Name: node}}, false, nil
	default:
		return nil, false, fmt.Errorf("read NodeAllocation/%s: %w", node, err)
	}
}

func (l *Ledger) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func dropEntries(na *storagev1alpha1.NodeAllocation, drop func(storagev1alpha1.AllocationEntry) bool) bool {
	before := len(na.Spec.Ports) + len(na.Spec.Minors)
	na.Spec.Ports = slices.DeleteFunc(na.Spec.Ports, drop)
	na.Spec.Minors = slices.DeleteFunc(na.Spec.Minors, drop)
	return len(na.Spec.Ports)+len(na.Spec.Minors) != before
}

// book is one node's ledger in memory while needs are satisfied.
type book struct {
	node          string
	ports, minors *numbers
}

// numbers is one numbered range of a node.
type numbers struct {
	what    string
	lo, hi  int32
	holders map[int32]storagev1alpha1.AllocationEntry
	byOwner map[string][]int32 // volume/uid → numbers held, ascending
}

func ownerKey(e storagev1alpha1.AllocationEntry) string { return e.Volume + "/" + e.UID }

func newBook(na *storagev1alpha1.NodeAllocation, a storagev1alpha1.AllocationSettings) *book {
	b := &book{
		node:   na.Name,
		ports:  newNumbers("port", a.PortMin, a.PortMax, placement.DefaultPortMin, placement.DefaultPortMax, na.Spec.Ports),
		minors: newNumbers("minor", a.MinorMin, a.MinorMax, placement.DefaultMinorMin, placement.DefaultMinorMax, na.Spec.Minors),
	}
	return b
}

func newNumbers(what string, lo, hi, defLo, defHi int32, entries []storagev1alpha1.AllocationEntry) *numbers {
	if lo == 0 && hi == 0 {
		lo, hi = defLo, defHi
	}
	n := &numbers{what: what, lo: lo, hi: hi, holders: make(map[int32]storagev1alpha1.AllocationEntry, len(entries)), byOwner: map[string][]int32{}}
	for _, e := range entries {
		n.holders[e.Number] = e
	}
	for _, e := range sortedEntries(n.holders) {
		n.byOwner[ownerKey(e)] = append(n.byOwner[ownerKey(e)], e.Number)
	}
	return n
}

// satisfy gives each need its numbers; changed reports whether the ledger changed.
func (b *book) satisfy(needs []Need, prefer map[string]Grant, now time.Time) (map[string]Grant, bool, error) {
	got := map[string]Grant{}
	changed := false
	var errs []error
	for _, n := range needs {
		g, ch, err := b.satisfyOne(n, prefer[n.Volume], now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		got[n.Volume] = g
		changed = changed || ch
	}
	return got, changed, joinErrors(errs)
}

func (b *book) satisfyOne(n Need, prefer Grant, now time.Time) (Grant, bool, error) {
	owner := storagev1alpha1.AllocationEntry{Volume: n.Volume, UID: n.UID, Since: &metav1.Time{Time: now.UTC().Truncate(time.Second)}}
	g := Grant{Minors: make([]int32, n.MinorCount)}
	port, ch1, err := b.ports.hold(b.node, owner, n.Port, prefer.Port, nil)
	if err != nil {
		return g, false, err
	}
	g.Port = port
	changed := ch1
	taken := map[int32]bool{}
	for i := range g.Minors {
		var want, pref int32
		if i < len(n.Minors) {
			want = n.Minors[i]
		}
		if i < len(prefer.Minors) {
			pref = prefer.Minors[i]
		}
		m, ch, err := b.minors.hold(b.node, owner, want, pref, taken)
		if err != nil {
			return g, false, err
		}
		taken[m] = true
		g.Minors[i] = m
		changed = changed || ch
	}
	return g, changed, nil
}

// hold gives owner a number: want when the volume records one (registered
// if free, a ConflictError if another volume holds it), else a number the
// volume already holds here and has not taken in this call, else pref when
// free, else the lowest free number.
func (n *numbers) hold(node string, owner storagev1alpha1.AllocationEntry, want, pref int32, taken map[int32]bool) (int32, bool, error) {
	if want != 0 {
		if h, ok := n.holders[want]; ok {
			if h.Volume == owner.Volume && h.UID == owner.UID {
				return want, false, nil
			}
			return 0, false, &ConflictError{Node: node, What: n.what, Number: want, Volume: owner.Volume, Holder: h.Volume}
		}
		n.take(want, owner)
		return want, true, nil
	}
	for _, num := range n.byOwner[ownerKey(owner)] {
		if !taken[num] {
			return num, false, nil
		}
	}
	if pref >= n.lo && pref <= n.hi && !taken[pref] {
		if _, ok := n.holders[pref]; !ok {
			n.take(pref, owner)
			return pref, true, nil
		}
	}
	for num := n.lo; num <= n.hi; num++ {
		if _, ok := n.holders[num]; !ok && !taken[num] {
			n.take(num, owner)
			return num, true, nil
		}
	}
	return 0, false, fmt.Errorf("node %s: no free DRBD %s in %d-%d for volume %s: all %d are in use; widen the range in the LinstorCluster",
		node, n.what, n.lo, n.hi, owner.Volume, int(n.hi-n.lo)+1)
}

func (n *numbers) take(num int32, owner storagev1alpha1.AllocationEntry) {
	owner.Number = num
	n.holders[num] = owner
}

func (n *numbers) entries() []storagev1alpha1.AllocationEntry { return sortedEntries(n.holders) }

func sortedEntries(holders map[int32]storagev1alpha1.AllocationEntry) []storagev1alpha1.AllocationEntry {
	out := make([]storagev1alpha1.AllocationEntry, 0, len(holders))
	for _, e := range holders {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b storagev1alpha1.AllocationEntry) int { return cmp.Compare(a.Number, b.Number) })
	return out
}

// store writes the book back into the object.
func (b *book) store(na *storagev1alpha1.NodeAllocation) {
	na.Spec.Ports = b.ports.entries()
	na.Spec.Minors = b.minors.entries()
}

// joinErrors joins the non-nil errors; nil when there are none.
func joinErrors(errs []error) error { return errors.Join(errs...) }
