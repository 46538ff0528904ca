package placement

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
)

// benchSpec: nodes in 10 zones, each with a thin pool of known capacity,
// volumes × 3 replicas spread over zones.
func benchSpec(nodes, volumes int) *scenario {
	ns := make([]storagev1alpha1.TopologyNode, nodes)
	for i := range ns {
		ns[i] = testNode(fmt.Sprintf("node-%04d", i), fmt.Sprintf("zone-%d", i%10), thin("thin", 1000))
	}
	// Default ranges: ports and minors are per node, so 1000 ports hold
	// 1000 replicas on every node.
	s := testSpec(ns, []storagev1alpha1.ResourceGroup{testGroup("bench", 3, []string{"thin"}, zoneKey)}, testVolumes("bench", volumes, 10))
	s.Allocation = storagev1alpha1.AllocationSettings{}
	return s
}

func benchmarkPlace(b *testing.B, nodes, volumes int) {
	spec := benchSpec(nodes, volumes)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res, err := place(spec, nil, DefaultOptions())
		require.False(b, err != nil || len(res.Unplaced) > 0, "err %v, unplaced %d", err, len(res.Unplaced))
	}
}

func BenchmarkPlace_1000Nodes_100Volumes(b *testing.B)   { benchmarkPlace(b, 1000, 100) }
func BenchmarkPlace_1000Nodes_1000Volumes(b *testing.B)  { benchmarkPlace(b, 1000, 1000) }
func BenchmarkPlace_1000Nodes_10000Volumes(b *testing.B) { benchmarkPlace(b, 1000, 10000) }
func BenchmarkPlace_1000Nodes_100000Volumes(b *testing.B) {
	benchmarkPlace(b, 1000, 100000)
}

// TestScaleDefaultRangesFit: with the default ranges, 1000 nodes hold
// 10 000 and 100 000 volumes of three replicas each (LINSTOR's per-node
// ports; a cluster-wide range stopped at 1000 volumes).
func TestScaleDefaultRangesFit(t *testing.T) {
	if testing.Short() {
		t.Skip("places 110 000 volumes")
	}
	for _, volumes := range []int{10000, 100000} {
		spec := benchSpec(1000, volumes)
		res, err := place(spec, nil, DefaultOptions())
		if err != nil {
			t.Fatalf("%d volumes: %v", volumes, err)
		}
		if len(res.Unplaced) > 0 {
			t.Fatalf("%d volumes: %d unplaced", volumes, len(res.Unplaced))
		}
		ports := map[string]bool{}
		for _, v := range res.Volumes {
			for _, r := range v.Spec.Replicas {
				key := fmt.Sprint(r.Node, "/", r.Port)
				if ports[key] || r.Port < DefaultPortMin || r.Port > DefaultPortMax {
					t.Fatalf("%d volumes: port %s given twice or out of the default range", volumes, key)
				}
				ports[key] = true
			}
		}
	}
}

// BenchmarkPlaceKeep: re-planning 10 000 placed volumes (the common case) only
// checks and keeps them.
func BenchmarkPlaceKeep_1000Nodes_10000Volumes(b *testing.B) {
	spec := benchSpec(1000, 10000)
	first, err := place(spec, nil, DefaultOptions())
	require.NoError(b, err)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		_, err := place(spec, first.Volumes, DefaultOptions())
		require.NoError(b, err)
	}
}

// benchmarkEvacuation plans the first step of evacuating the node holding
// the most replicas of an already placed cluster: every one of its
// replicas gets a replacement while the old one stays.
func benchmarkEvacuation(b *testing.B, nodes, volumes int) {
	spec := benchSpec(nodes, volumes)
	placed, err := place(spec, nil, DefaultOptions())
	require.NoError(b, err)
	count := map[string]int{}
	for _, v := range placed.Volumes {
		for _, r := range v.Spec.Replicas {
			count[r.Node]++
		}
	}
	leaving := 0
	for i, n := range spec.Nodes {
		if count[n.Name] > count[spec.Nodes[leaving].Name] {
			leaving = i
		}
	}
	spec.Nodes[leaving].Leaving = &storagev1alpha1.NodeLeaving{Policy: "Evacuate", Reason: storagev1alpha1.LeavingNodeDeleted}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res, err := Place(&spec.StorageTopologySpec, placed.Volumes, nil, DefaultOptions())
		require.NoError(b, err)
		require.Len(b, res.Moves, count[spec.Nodes[leaving].Name])
	}
	b.ReportMetric(float64(count[spec.Nodes[leaving].Name]), "moves")
}

func BenchmarkEvacuation_100Nodes_10000Volumes(b *testing.B)   { benchmarkEvacuation(b, 100, 10000) }
func BenchmarkEvacuation_1000Nodes_100000Volumes(b *testing.B) { benchmarkEvacuation(b, 1000, 100000) }
