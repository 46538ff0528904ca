package placement

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	piraeusv1 "github.com/piraeusctl/piraeusctl/api/v1"
)

// TestEvacuationStep is the step logic of one replica on an evacuating
// node: a replacement first, the old replica kept until every other
// diskful replica is UpToDate and the volume is not in use there.
func TestEvacuationStep(t *testing.T) {
	replicas := func(nodes ...string) []storagev1alpha1.Replica {
		out := make([]storagev1alpha1.Replica, len(nodes))
		for i, n := range nodes {
			out[i] = storagev1alpha1.Replica{Node: n}
		}
		return out
	}
	upToDate := func(nodes ...string) func(string) bool {
		return func(n string) bool {
			for _, u := range nodes {
				if u == n {
					return true
				}
			}
			return false
		}
	}
	tests := []struct {
		name        string
		replacement *storagev1alpha1.Replica
		others      []storagev1alpha1.Replica
		want        int
		ready       func(string) bool
		inUse       bool
		step        Step
		to          string
		waiting     []string
	}{
		{"a replacement is added: the old replica stays", &storagev1alpha1.Replica{Node: "d"}, replicas("a", "b", "d"), 3, upToDate("a", "b"), false, StepAdd, "d", []string{"d"}},
		{"the replacement is syncing", nil, replicas("a", "b", "d"), 3, upToDate("a", "b"), false, StepSync, "", []string{"d"}},
		{"an old replica elsewhere is out of date too", nil, replicas("a", "b", "d"), 3, upToDate("d"), false, StepSync, "", []string{"a", "b"}},
		{"all UpToDate: the old replica leaves", nil, replicas("a", "b", "d"), 3, upToDate("a", "b", "d"), false, StepDrop, "", []string{"a", "b", "d"}},
		{"all UpToDate but in use on the evacuating node", nil, replicas("a", "b", "d"), 3, upToDate("a", "b", "d"), true, StepDetach, "", nil},
		{"no node could take a replacement", nil, replicas("a", "b"), 3, upToDate("a", "b"), false, StepNoTarget, "", nil},
		{"a single-replica volume with its replacement UpToDate", nil, replicas("d"), 1, upToDate("d"), false, StepDrop, "", []string{"d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := evacuationStep("c", tt.replacement, tt.others, tt.want, tt.ready, tt.inUse)
			assert.Equal(t, "c", m.From)
			assert.Equal(t, tt.step, m.Step)
			assert.Equal(t, tt.to, m.To)
			assert.Equal(t, tt.waiting, m.Waiting)
			assert.Equal(t, tt.step != StepDrop, m.Step.Stays())
			assert.NotEmpty(t, m.StepText())
		})
	}
}

// TestPlaceEvacuation runs the steps through Place, with the status a
// controller would write between them: the replica on the evacuating node
// stays until its replacement is UpToDate, then leaves; a lost node
// (Retain) keeps its replica and gets nothing new.
func TestPlaceEvacuation(t *testing.T) {
	topo := &storagev1alpha1.StorageTopologySpec{
		Allocation:     storagev1alpha1.AllocationSettings{PortMin: 7000, PortMax: 7999, MinorMin: 1000, MinorMax: 1999},
		ResourceGroups: []storagev1alpha1.ResourceGroup{{Name: "rg", PlaceCount: 2, LayerList: []string{"drbd", "storage"}}},
	}
	for _, n := range []string{"a", "b", "c", "d"} {
		topo.Nodes = append(topo.Nodes, storagev1alpha1.TopologyNode{Name: n, StoragePools: []storagev1alpha1.StoragePool{{Name: "pool", ProviderKind: piraeusv1.ProviderKind("LVM_THIN")}}})
	}
	vol := storagev1alpha1.StorageVolume{}
	vol.Name = "v"
	vol.Spec = storagev1alpha1.StorageVolumeSpec{ResourceGroup: "rg", Volumes: []storagev1alpha1.VolumeDefinition{{SizeBytes: 1 << 30}}}
	first, err := Place(topo, []storagev1alpha1.StorageVolume{vol}, nil, Options{})
	require.NoError(t, err)
	v := first.Volumes[0]
	leaving := diskful(v)[0]
	topo.Nodes[nodeIndex(topo, leaving)].Leaving = &storagev1alpha1.NodeLeaving{Policy: piraeusv1.DeletionPolicyEvacuate, Reason: storagev1alpha1.LeavingNodeDeleted}

	step1, err := Place(topo, []storagev1alpha1.StorageVolume{v}, nil, Options{})
	require.NoError(t, err)
	v1 := step1.Volumes[0]
	require.Len(t, step1.Moves, 1)
	assert.Equal(t, StepAdd, step1.Moves[0].Step)
	assert.Len(t, diskful(v1), 3, "the replacement joins, the old replica stays")
	assert.Contains(t, diskful(v1), leaving)

	step2, err := Place(topo, []storagev1alpha1.StorageVolume{v1}, nil, Options{})
	require.NoError(t, err)
	assert.Equal(t, StepSync, step2.Moves[0].Step, "no status: nothing is UpToDate yet")
	assert.Equal(t, withoutReasons(v1.Spec.Replicas), withoutReasons(step2.Volumes[0].Spec.Replicas), "a waiting step changes nothing")

	synced := step2.Volumes[0]
	for _, r := range synced.Spec.Replicas {
		state := "UpToDate"
		if r.Diskless {
			state = "Diskless"
		}
		synced.Status.Replicas = append(synced.Status.Replicas, storagev1alpha1.ReplicaStatus{Node: r.Node, Deployed: true,
			Volumes: []storagev1alpha1.ReplicaVolumeStatus{{Number: 0, DiskState: state}}})
	}
	step3, err := Place(topo, []storagev1alpha1.StorageVolume{synced}, nil, Options{})
	require.NoError(t, err)
	assert.Equal(t, StepDrop, step3.Moves[0].Step)
	assert.Len(t, diskful(step3.Volumes[0]), 2)
	assert.NotContains(t, diskful(step3.Volumes[0]), leaving)

	// Retain: the node is lost, its replica stays and nothing moves.
	topo.Nodes[nodeIndex(topo, leaving)].Leaving.Policy = piraeusv1.DeletionPolicyRetain
	kept, err := Place(topo, []storagev1alpha1.StorageVolume{v}, nil, Options{})
	require.NoError(t, err)
	assert.Empty(t, kept.Moves)
	assert.Equal(t, diskful(v), diskful(kept.Volumes[0]))
}

func diskful(v storagev1alpha1.StorageVolume) []string {
	var out []string
	for _, r := range v.Spec.Replicas {
		if !r.Diskless {
			out = append(out, r.Node)
		}
	}
	return out
}

func nodeIndex(t *storagev1alpha1.StorageTopologySpec, name string) int {
	for i := range t.Nodes {
		if t.Nodes[i].Name == name {
			return i
		}
	}
	panic(name)
}

func withoutReasons(in []storagev1alpha1.Replica) []storagev1alpha1.Replica {
	out := make([]storagev1alpha1.Replica, len(in))
	for i, r := range in {
		r.Reason = ""
		out[i] = r
	}
	return out
}

// TestPlaceAvoidsLedgerNumbers: a number the controller's ledger holds for
// another volume (a replica still leaving the node) is not handed out
// again; the volume's own reservation is reused.
func TestPlaceAvoidsLedgerNumbers(t *testing.T) {
	topo := &storagev1alpha1.StorageTopologySpec{
		Allocation:     storagev1alpha1.AllocationSettings{PortMin: 7000, PortMax: 7999, MinorMin: 1000, MinorMax: 1999},
		ResourceGroups: []storagev1alpha1.ResourceGroup{{Name: "rg", PlaceCount: 1, LayerList: []string{"drbd", "storage"}, NodeList: []string{"a"}}},
		Nodes:          []storagev1alpha1.TopologyNode{{Name: "a", StoragePools: []storagev1alpha1.StoragePool{{Name: "pool", ProviderKind: "FILE_THIN"}}}},
	}
	vol := func(name string) storagev1alpha1.StorageVolume {
		v := storagev1alpha1.StorageVolume{}
		v.Name = name
		v.Spec = storagev1alpha1.StorageVolumeSpec{ResourceGroup: "rg", Volumes: []storagev1alpha1.VolumeDefinition{{SizeBytes: 1 << 20}}}
		return v
	}
	ledger := storagev1alpha1.NodeAllocation{}
	ledger.Name = "a"
	ledger.Spec.Ports = []storagev1alpha1.AllocationEntry{{Number: 7000, Volume: "leaving"}, {Number: 7005, Volume: "w"}}
	ledger.Spec.Minors = []storagev1alpha1.AllocationEntry{{Number: 1000, Volume: "leaving"}}
	res, err := Place(topo, []storagev1alpha1.StorageVolume{vol("v"), vol("w")}, nil, Options{Ledgers: []storagev1alpha1.NodeAllocation{ledger}})
	require.NoError(t, err)
	assert.EqualValues(t, 7001, res.Volumes[0].Spec.Replicas[0].Port, "7000 is still held by a leaving replica")
	assert.Equal(t, []int32{1001}, res.Volumes[0].Spec.Replicas[0].Minors)
	assert.EqualValues(t, 7005, res.Volumes[1].Spec.Replicas[0].Port, "w reuses its reservation")
}
