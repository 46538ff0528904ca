package controller

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
)

func ledgerOf(node string, ports, minors map[int32]string) *storagev1alpha1.NodeAllocation {
	na := &storagev1alpha1.NodeAllocation{ObjectMeta: metav1.ObjectMeta{Name: node}}
	for n, v := range ports {
		na.Spec.Ports = append(na.Spec.Ports, storagev1alpha1.AllocationEntry{Number: n, Volume: v, UID: "uid-" + v})
	}
	for n, v := range minors {
		na.Spec.Minors = append(na.Spec.Minors, storagev1alpha1.AllocationEntry{Number: n, Volume: v, UID: "uid-" + v})
	}
	return na
}

func need(volume string, port int32, minors ...int32) Need {
	return Need{Volume: volume, UID: "uid-" + volume, Node: "n1", Port: port, Minors: minors, MinorCount: max(1, len(minors))}
}

func TestBookSatisfy(t *testing.T) {
	small := storagev1alpha1.AllocationSettings{PortMin: 7000, PortMax: 7002, MinorMin: 1000, MinorMax: 1001}
	cases := []struct {
		name    string
		ledger  *storagev1alpha1.NodeAllocation
		needs   []Need
		prefer  map[string]Grant
		want    map[string]Grant
		changed bool
		err     string
	}{
		{
			name: "lowest free", ledger: ledgerOf("n1", map[int32]string{7000: "a"}, map[int32]string{1000: "a"}),
			needs: []Need{need("b", 0)}, want: map[string]Grant{"b": {7001, []int32{1001}}}, changed: true,
		},
		{
			name: "the number the volume got on another node is preferred", ledger: ledgerOf("n1", nil, nil),
			needs: []Need{need("b", 0)}, prefer: map[string]Grant{"b": {7002, []int32{1001}}},
			want: map[string]Grant{"b": {7002, []int32{1001}}}, changed: true,
		},
		{
			name: "a preferred number held by another volume falls back", ledger: ledgerOf("n1", map[int32]string{7002: "a"}, nil),
			needs: []Need{need("b", 0)}, prefer: map[string]Grant{"b": {7002, []int32{1001}}},
			want: map[string]Grant{"b": {7000, []int32{1001}}}, changed: true,
		},
		{
			name: "registered numbers cost nothing", ledger: ledgerOf("n1", map[int32]string{7001: "b"}, map[int32]string{1000: "b"}),
			needs: []Need{need("b", 7001, 1000)}, want: map[string]Grant{"b": {7001, []int32{1000}}},
		},
		{
			name: "recorded numbers missing from the ledger are registered", ledger: ledgerOf("n1", nil, nil),
			needs: []Need{need("b", 7002, 1001)}, want: map[string]Grant{"b": {7002, []int32{1001}}}, changed: true,
		},
		{
			name: "a volume that reserved before (restart) gets the same numbers", ledger: ledgerOf("n1", map[int32]string{7000: "a", 7002: "b"}, map[int32]string{1001: "b"}),
			needs: []Need{need("b", 0)}, want: map[string]Grant{"b": {7002, []int32{1001}}},
		},
		{
			name: "recorded number held by another volume is a conflict", ledger: ledgerOf("n1", map[int32]string{7000: "a"}, nil),
			needs: []Need{need("b", 7000, 1000)}, err: "DRBD port 7000 on node n1 is recorded for volume b but held by volume a",
		},
		{
			name: "exhausted range names it", ledger: ledgerOf("n1", map[int32]string{7000: "a", 7001: "c", 7002: "d"}, nil),
			needs: []Need{need("b", 0)}, err: "no free DRBD port in 7000-7002 for volume b: all 3 are in use; widen the range",
		},
		{
			name: "two volume definitions get two minors", ledger: ledgerOf("n1", nil, nil),
			needs: []Need{{Volume: "b", UID: "uid-b", Node: "n1", MinorCount: 2}}, want: map[string]Grant{"b": {7000, []int32{1000, 1001}}}, changed: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newBook(tc.ledger, small)
			got, changed, err := b.satisfy(tc.needs, tc.prefer, time.Unix(1700000000, 0))
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.changed, changed)
		})
	}
}

// TestBookNeverDoubleAllocates hands out every number of a small range to
// distinct volumes, then refuses the next.
func TestBookNeverDoubleAllocates(t *testing.T) {
	b := newBook(ledgerOf("n1", nil, nil), storagev1alpha1.AllocationSettings{PortMin: 7000, PortMax: 7099})
	seen := map[int32]string{}
	for i := range 100 {
		v := string(rune('a'+i/26)) + string(rune('a'+i%26))
		g, _, err := b.satisfy([]Need{need(v, 0)}, nil, time.Now())
		require.NoError(t, err)
		port := g[v].Port
		require.NotContains(t, seen, port, "port %d given twice", port)
		seen[port] = v
	}
	_, _, err := b.satisfy([]Need{need("zz", 0)}, nil, time.Now())
	require.Error(t, err)
	na := &storagev1alpha1.NodeAllocation{}
	b.store(na)
	assert.Len(t, na.Spec.Ports, 100)
	for i := 1; i < len(na.Spec.Ports); i++ {
		assert.Less(t, na.Spec.Ports[i-1].Number, na.Spec.Ports[i].Number, "entries stay sorted")
	}
}

func TestRegistered(t *testing.T) {
	ledger := ledgerOf("n1", map[int32]string{7000: "a", 7001: "b"}, map[int32]string{1000: "a", 1001: "b"})
	unsorted := ledger.DeepCopy()
	unsorted.Spec.Ports[0], unsorted.Spec.Ports[1] = ledger.Spec.Ports[1], ledger.Spec.Ports[0]
	if unsorted.Spec.Ports[0].Number < unsorted.Spec.Ports[1].Number {
		unsorted.Spec.Ports[0], unsorted.Spec.Ports[1] = unsorted.Spec.Ports[1], unsorted.Spec.Ports[0]
	}
	sortEntries(ledger)
	for _, tc := range []struct {
		name   string
		ledger *storagev1alpha1.NodeAllocation
		needs  []Need
		ok     bool
	}{
		{"both recorded and held", ledger, []Need{need("a", 7000, 1000), need("b", 7001, 1001)}, true},
		{"a port held by another volume", ledger, []Need{need("a", 7001, 1000)}, false},
		{"a minor not in the ledger", ledger, []Need{need("a", 7000, 1005)}, false},
		{"a number still to allocate", ledger, []Need{need("a", 0, 1000)}, false},
		{"a minor still to allocate", ledger, []Need{{Volume: "a", UID: "uid-a", Node: "n1", Port: 7000, Minors: []int32{1000}, MinorCount: 2}}, false},
		{"a ledger out of order: the book decides", unsorted, []Need{need("a", 7000, 1000)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := registered(tc.ledger, tc.needs)
			require.Equal(t, tc.ok, ok)
			if ok {
				for _, n := range tc.needs {
					assert.Equal(t, Grant{Port: n.Port, Minors: n.Minors}, got[n.Volume])
				}
			}
		})
	}
}

// sortEntries orders a test ledger as the book stores it.
func sortEntries(na *storagev1alpha1.NodeAllocation) {
	for _, e := range [][]storagev1alpha1.AllocationEntry{na.Spec.Ports, na.Spec.Minors} {
		slices.SortFunc(e, func(a, b storagev1alpha1.AllocationEntry) int { return int(a.Number - b.Number) })
	}
}
