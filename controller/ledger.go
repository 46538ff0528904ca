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

// Reserve makes sure every need holds its numbers in its node's ledger:
// numbers the volume already records are registered (a
// *placement.NumberConflictError when another volume holds one), missing
// ones are allocated. Numbers are chosen
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
		if got, ok := registered(na, needs); ok {
			return got, nil
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

// registered answers needs whose numbers the spec records and the ledger
// already holds for the same uid, without building the node's book: the
// check every reconcile of a placed DRBD volume makes, which must not cost
// the size of the node's ledger in allocations. ok is false when some
// need asks for more (or the ledger is not in the order the book stores).
func registered(na *storagev1alpha1.NodeAllocation, needs []Need) (map[string]Grant, bool) {
	byNumber := func(a storagev1alpha1.AllocationEntry, n int32) int { return cmp.Compare(a.Number, n) }
	holds := func(entries []storagev1alpha1.AllocationEntry, num int32, n Need) bool {
		i, found := slices.BinarySearchFunc(entries, num, byNumber)
		return found && entries[i].UID == n.UID && entries[i].Volume == n.Volume
	}
	sorted := func(e []storagev1alpha1.AllocationEntry) bool {
		return slices.IsSortedFunc(e, func(a, b storagev1alpha1.AllocationEntry) int { return cmp.Compare(a.Number, b.Number) })
	}
	if !sorted(na.Spec.Ports) || !sorted(na.Spec.Minors) {
		return nil, false
	}
	got := make(map[string]Grant, len(needs))
	for _, n := range needs {
		if n.Port == 0 || len(n.Minors) != n.MinorCount || !holds(na.Spec.Ports, n.Port, n) {
			return nil, false
		}
		for _, m := range n.Minors {
			if m == 0 || !holds(na.Spec.Minors, m, n) {
				return nil, false
			}
		}
		got[n.Volume] = Grant{Port: n.Port, Minors: slices.Clone(n.Minors)}
	}
	return got, true
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

// book is one node's ledger in memory while needs are satisfied: the
// planner's per-node numbers (placement.Numbers), and when each number was
// reserved.
type book struct {
	node          string
	ports, minors *placement.Numbers
	since         map[string]map[int32]*metav1.Time // kind → number → reserved at
}

func newBook(na *storagev1alpha1.NodeAllocation, a storagev1alpha1.AllocationSettings) *book {
	b := &book{
		node:   na.Name,
		ports:  placement.NewNumbers(placement.KindPort, na.Name, a.PortMin, a.PortMax),
		minors: placement.NewNumbers(placement.KindMinor, na.Name, a.MinorMin, a.MinorMax),
		since:  map[string]map[int32]*metav1.Time{placement.KindPort: {}, placement.KindMinor: {}},
	}
	for _, set := range []struct {
		n       *placement.Numbers
		entries []storagev1alpha1.AllocationEntry
	}{{b.ports, na.Spec.Ports}, {b.minors, na.Spec.Minors}} {
		for _, e := range set.entries {
			// The ledger's entries are unique by number, so this cannot conflict.
			_, _ = set.n.Claim(e.Number, placement.Holder{Volume: e.Volume, UID: e.UID})
			b.since[set.n.What][e.Number] = e.Since
		}
	}
	return b
}

// satisfy gives each need its numbers; changed reports whether the ledger changed.
func (b *book) satisfy(needs []Need, prefer map[string]Grant, now time.Time) (map[string]Grant, bool, error) {
	got := map[string]Grant{}
	changed := false
	var errs []error
	for _, n := range needs {
		g, ch, err := b.satisfyOne(n, prefer[n.Volume])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		got[n.Volume] = g
		changed = changed || ch
	}
	b.stamp(now)
	return got, changed, joinErrors(errs)
}

func (b *book) satisfyOne(n Need, prefer Grant) (Grant, bool, error) {
	h := placement.Holder{Volume: n.Volume, UID: n.UID}
	var g Grant
	var changed bool
	var err error
	if n.Port != 0 {
		changed, err = b.ports.Claim(n.Port, h)
		g.Port = n.Port
	} else {
		g.Port, changed, err = b.ports.Take(h, prefer.Port, nil)
	}
	if err != nil {
		return g, false, err
	}
	for _, m := range n.Minors {
		if m == 0 {
			continue
		}
		ch, err := b.minors.Claim(m, h)
		if err != nil {
			return g, false, err
		}
		changed = changed || ch
	}
	before := b.minors.Len()
	g.Minors, err = placement.FillMinors(b.minors, h, n.Minors, prefer.Minors, n.MinorCount)
	if err != nil {
		return g, false, err
	}
	return g, changed || b.minors.Len() != before, nil
}

// stamp gives numbers reserved by this call their reservation time.
func (b *book) stamp(now time.Time) {
	t := &metav1.Time{Time: now.UTC().Truncate(time.Second)}
	for _, n := range []*placement.Numbers{b.ports, b.minors} {
		if len(b.since[n.What]) == n.Len() {
			continue
		}
		for _, h := range n.Held() {
			if _, ok := b.since[n.What][h.Number]; !ok {
				b.since[n.What][h.Number] = t
			}
		}
	}
}

// store writes the book back into the object.
func (b *book) store(na *storagev1alpha1.NodeAllocation) {
	na.Spec.Ports = b.entries(b.ports)
	na.Spec.Minors = b.entries(b.minors)
}

func (b *book) entries(n *placement.Numbers) []storagev1alpha1.AllocationEntry {
	held := n.Held()
	out := make([]storagev1alpha1.AllocationEntry, len(held))
	for i, h := range held {
		out[i] = storagev1alpha1.AllocationEntry{Number: h.Number, Volume: h.Holder.Volume, UID: h.Holder.UID, Since: b.since[n.What][h.Number]}
	}
	return out
}

// joinErrors joins the non-nil errors; nil when there are none.
func joinErrors(errs []error) error { return errors.Join(errs...) }
