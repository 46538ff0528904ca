package plan_test

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	"github.com/piraeusctl/piraeusctl/plan"
)

// FuzzLoad feeds arbitrary bytes to the loader: it must return a model or
// an error, never panic, and every error must name its source.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("../examples/*.yaml")
	more, _ := filepath.Glob("../testdata/*/input/*.yaml")
	invalid, _ := filepath.Glob("../testdata/invalid/*/input.yaml")
	upstream, _ := filepath.Glob("../testdata/upstream-examples/*.yaml")
	for _, p := range append(append(append(seeds, more...), invalid...), upstream...) {
		data, err := os.ReadFile(p)
		require.NoError(f, err)
		f.Add(data)
	}
	f.Add([]byte("apiVersion: v1\nkind: List\nitems: [1, {kind: Node}]\n"))
	f.Add([]byte("a: &x [*x]\n"))
	schemas, err := plan.NewSchemas()
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := plan.Load(t.Context(), []plan.Source{{Name: "fuzz.yaml", Data: data}}, plan.LoadOptions{Schemas: schemas})
		if list, ok := err.(plan.ErrorList); ok {
			for _, e := range list {
				require.Equal(t, "fuzz.yaml", e.Pos.Source, "error without source: %v", e)
			}
		}
	})
}

// FuzzPreviousTopology feeds previous StorageTopologies with arbitrary
// allocations to Build: it must refuse them with an error or keep every
// allocation exactly, never rewrite one silently, and what it plans must be
// within the ranges with distinct node ids.
func FuzzPreviousTopology(f *testing.F) {
	f.Add(int32(7000), int32(7999), int32(1000), int32(1048575), int32(7005), int32(1009), int32(7), int32(3), false)
	f.Add(int32(0), int32(0), int32(0), int32(0), int32(9000), int32(1000), int32(0), int32(1), false)
	f.Add(int32(7000), int32(7999), int32(1000), int32(1048575), int32(7000), int32(2000000), int32(0), int32(40), false)
	f.Add(int32(7999), int32(7000), int32(1000), int32(1048575), int32(7000), int32(1000), int32(3), int32(3), true)
	f.Add(int32(-1), int32(70000), int32(-5), int32(1<<30), int32(0), int32(0), int32(-1), int32(31), false)
	schemas, err := plan.NewSchemas()
	require.NoError(f, err)
	srcs := []plan.Source{
		{Name: "nodes.yaml", Data: []byte(twoNodes)},
		{Name: "class.yaml", Data: []byte(replicatedClass)},
		{Name: "claim.yaml", Data: []byte(claimOf("replicated", "1Gi"))},
	}
	f.Fuzz(func(t *testing.T, portMin, portMax, minorMin, minorMax, port, minor, id1, id2 int32, sameNode bool) {
		second := "n2"
		if sameNode {
			second = "n1"
		}
		prev := &storagev1alpha1.StorageTopologySpec{
			Allocation:     storagev1alpha1.AllocationSettings{PortMin: portMin, PortMax: portMax, MinorMin: minorMin, MinorMax: minorMax},
			ResourceGroups: []storagev1alpha1.ResourceGroup{{Name: "replicated", StorageClasses: []string{"replicated"}, PlaceCount: 2, LayerList: []string{"drbd", "storage"}}},
		}
		var minors []int32
		if minor != 0 {
			minors = []int32{minor}
		}
		prevVol := storagev1alpha1.StorageVolume{ObjectMeta: metav1.ObjectMeta{Name: "pvc-11111111-2222-4333-8444-555555555555"}, Spec: storagev1alpha1.StorageVolumeSpec{
			ResourceGroup: "replicated", Volumes: []storagev1alpha1.VolumeDefinition{{SizeBytes: 1 << 30}},
			Replicas: []storagev1alpha1.Replica{{Node: "n1", StoragePool: "thin", NodeID: id1, Port: port, Minors: minors}, {Node: second, StoragePool: "thin", NodeID: id2}},
		}}
		opts := plan.BuildOptions{LoadOptions: plan.LoadOptions{Schemas: schemas}, Previous: prev, PreviousVolumes: []storagev1alpha1.StorageVolume{prevVol}, PreviousSource: "prev.yaml"}
		opts.Placement.AllowUnplaced = true
		built, err := plan.Build(t.Context(), srcs, opts)
		if err != nil {
			return
		}
		require.Len(t, built.Model.Volumes, 1, "volumes: %+v", built.Model.Volumes)
		v := built.Model.Volumes[0]
		a := built.Model.Topology.Spec.Allocation
		ids := map[int32]bool{}
		for _, r := range v.Spec.Replicas {
			require.False(t, r.Node == "n1" && (port != 0 && r.Port != port || minor != 0 && r.Minors[0] != minor), "allocation rewritten: port %d → %d, minor %d → %v", port, r.Port, minor, r.Minors)
			require.False(t, r.Port < a.PortMin || r.Port > a.PortMax || len(r.Minors) != 1 || r.Minors[0] < a.MinorMin || r.Minors[0] > a.MinorMax, "port %d or minors %v outside %+v", r.Port, r.Minors, a)
			require.False(t, r.NodeID < 0 || r.NodeID > 31 || ids[r.NodeID], "node ids %+v", v.Spec.Replicas)
			ids[r.NodeID] = true
			require.False(t, r.Node == "n1" && r.NodeID != id1 || r.Node == "n2" && !sameNode && r.NodeID != id2, "node id rewritten: %+v, previous %d, %d", v.Spec.Replicas, id1, id2)
		}
	})
}
