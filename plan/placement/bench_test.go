package placement

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
)

// benchSpec: nodes in 10 zones, each with a thin pool of known capacity,
// volumes × 3 replicas spread over zones.
func benchSpec(nodes, volumes int) *storagev1alpha1.StorageTopologySpec {
	ns := make([]storagev1alpha1.TopologyNode, nodes)
	for i := range ns {
		ns[i] = testNode(fmt.Sprintf("node-%04d", i), fmt.Sprintf("zone-%d", i%10), thin("thin", 1000))
	}
	s := testSpec(ns, []storagev1alpha1.ResourceGroup{testGroup("bench", 3, []string{"thin"}, zoneKey)}, testVolumes("bench", volumes, 10))
	s.Allocation.PortMax = s.Allocation.PortMin + int32(volumes) // the default 1000 ports would not do
	return s
}

func benchmarkPlace(b *testing.B, nodes, volumes int) {
	spec := benchSpec(nodes, volumes)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res, err := Place(spec, nil, DefaultOptions())
		require.False(b, err != nil || len(res.Unplaced) > 0, "err %v, unplaced %d", err, len(res.Unplaced))
	}
}

func BenchmarkPlace_1000Nodes_100Volumes(b *testing.B)   { benchmarkPlace(b, 1000, 100) }
func BenchmarkPlace_1000Nodes_1000Volumes(b *testing.B)  { benchmarkPlace(b, 1000, 1000) }
func BenchmarkPlace_1000Nodes_10000Volumes(b *testing.B) { benchmarkPlace(b, 1000, 10000) }

// BenchmarkPlaceKeep: re-planning 10 000 placed volumes (the common case) only
// checks and keeps them.
func BenchmarkPlaceKeep_1000Nodes_10000Volumes(b *testing.B) {
	spec := benchSpec(1000, 10000)
	first, err := Place(spec, nil, DefaultOptions())
	require.NoError(b, err)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		_, err := Place(spec, first.Spec, DefaultOptions())
		require.NoError(b, err)
	}
}
