package placement

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
	fiveMin, zero := 5*time.Minute, time.Duration(0)
	tests := []struct {
		name        string
		replacement *storagev1alpha1.Replica
		others      []storagev1alpha1.Replica
		want        int
		ready       func(string) bool
		wait        detachWait
		step        Step
		to          string
		waiting     []string
	}{
		{"a replacement is added: the old replica stays", &storagev1alpha1.Replica{Node: "d"}, replicas("a", "b", "d"), 3, upToDate("a", "b"), detachWait{}, StepAdd, "d", []string{"d"}},
		{"the replacement is syncing", nil, replicas("a", "b", "d"), 3, upToDate("a", "b"), detachWait{}, StepSync, "", []string{"d"}},
		{"an old replica elsewhere is out of date too", nil, replicas("a", "b", "d"), 3, upToDate("d"), detachWait{}, StepSync, "", []string{"a", "b"}},
		{"all UpToDate: the old replica leaves", nil, replicas("a", "b", "d"), 3, upToDate("a", "b", "d"), detachWait{}, StepDrop, "", []string{"a", "b", "d"}},
		{"all UpToDate but in use on the evacuating node", nil, replicas("a", "b", "d"), 3, upToDate("a", "b", "d"), detachWait{inUse: true, timeout: &fiveMin}, StepDetach, "", nil},
		{"in use after the timeout: the old replica goes diskless", nil, replicas("a", "b", "d"), 3, upToDate("a", "b", "d"), detachWait{inUse: true, timeout: &fiveMin, due: true}, StepDropDisk, "", []string{"a", "b", "d"}},
		{"timeout 0: diskless as soon as the others are UpToDate", nil, replicas("a", "b", "d"), 3, upToDate("a", "b", "d"), detachWait{inUse: true, timeout: &zero, due: true}, StepDropDisk, "", []string{"a", "b", "d"}},
		{"timed out, but the replacement is syncing: the disk stays", nil, replicas("a", "b", "d"), 3, upToDate("a", "b"), detachWait{inUse: true, timeout: &zero, due: true}, StepSync, "", []string{"d"}},
		{"timed out, not in use: the old replica leaves", nil, replicas("a", "b", "d"), 3, upToDate("a", "b", "d"), detachWait{timeout: &zero, due: true}, StepDrop, "", []string{"a", "b", "d"}},
		{"no node could take a replacement", nil, replicas("a", "b"), 3, upToDate("a", "b"), detachWait{}, StepNoTarget, "", nil},
		{"a single-replica volume with its replacement UpToDate", nil, replicas("d"), 1, upToDate("d"), detachWait{}, StepDrop, "", []string{"d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := evacuationStep("c", tt.replacement, tt.others, tt.want, tt.ready, tt.wait)
			assert.Equal(t, "c", m.From)
			assert.Equal(t, tt.step, m.Step)
			assert.Equal(t, tt.to, m.To)
			assert.Equal(t, tt.waiting, m.Waiting)
			assert.Equal(t, tt.step != StepDrop, m.Step.Stays())
			assert.NotEmpty(t, m.StepText())
		})
	}
}

// TestDetachWait: when a volume in use on an evacuating node stops holding
// its replica there diskful: attachedVolumeReattachTimeout after the node
// started leaving, at once with 0, never without DRBD (no diskless replica).
func TestDetachWait(t *testing.T) {
	since := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	inUseHere := &storagev1alpha1.StorageVolumeStatus{Replicas: []storagev1alpha1.ReplicaStatus{{Node: "c", InUse: true}}}
	tests := []struct {
		name     string
		since    time.Time
		timeout  time.Duration
		drbd     bool
		now      time.Time
		due      bool
		deadline time.Time
	}{
		{"before the timeout", since, 5 * time.Minute, true, since.Add(4 * time.Minute), false, since.Add(5 * time.Minute)},
		{"at the timeout", since, 5 * time.Minute, true, since.Add(5 * time.Minute), true, since.Add(5 * time.Minute)},
		{"after the timeout", since, 5 * time.Minute, true, since.Add(time.Hour), true, since.Add(5 * time.Minute)},
		{"timeout 0: no wait", since, 0, true, since, true, since},
		{"timeout 0 without a clock", time.Time{}, 0, true, time.Time{}, true, time.Time{}},
		{"no clock: never due", time.Time{}, 5 * time.Minute, true, time.Time{}, false, time.Time{}},
		{"not known when it started leaving", time.Time{}, 5 * time.Minute, true, since, false, time.Time{}},
		{"no DRBD: it cannot go diskless, it waits", since, 0, false, since.Add(time.Hour), false, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := &node{name: "c", evacuating: true, leavingSince: tt.since, reattach: tt.timeout}
			w := detachWaitOf(n, &volumeState{status: inUseHere, drbd: tt.drbd}, tt.now)
			assert.True(t, w.inUse)
			assert.Equal(t, tt.due, w.due)
			assert.Equal(t, tt.deadline, w.deadline)
			assert.Equal(t, tt.drbd, w.timeout != nil)
		})
	}
}

// placedTwoReplicas is four nodes with an LVM_THIN pool and a DRBD volume
// of two replicas placed on them.
func placedTwoReplicas(t *testing.T) (*storagev1alpha1.StorageTopologySpec, *Result) {
	t.Helper()
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
	return topo, first
}

// TestPlaceEvacuationTimeout runs an in-use volume through Place: its
// replica on the evacuating node stays diskful until the node's
// attachedVolumeReattachTimeout has passed, then stays diskless (its pool
// space freed) while in use, then leaves once detached.
func TestPlaceEvacuationTimeout(t *testing.T) {
	since := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	topo, first := placedTwoReplicas(t)
	leaving := diskful(first.Volumes[0])[0]
	tn := &topo.Nodes[nodeIndex(topo, leaving)]
	tn.Leaving = &storagev1alpha1.NodeLeaving{Policy: piraeusv1.DeletionPolicyEvacuate, Reason: storagev1alpha1.LeavingNotSelected, Since: &metav1.Time{Time: since}}
	added, err := Place(topo, first.Volumes, nil, Options{Now: since})
	require.NoError(t, err)
	synced := added.Volumes[0]
	for _, r := range synced.Spec.Replicas {
		state := "UpToDate"
		if r.Diskless {
			state = "Diskless"
		}
		synced.Status.Replicas = append(synced.Status.Replicas, storagev1alpha1.ReplicaStatus{Node: r.Node, Deployed: true, InUse: r.Node == leaving,
			Volumes: []storagev1alpha1.ReplicaVolumeStatus{{Number: 0, DiskState: state}}})
	}

	before, err := Place(topo, []storagev1alpha1.StorageVolume{synced}, nil, Options{Now: since.Add(4 * time.Minute)})
	require.NoError(t, err)
	require.Len(t, before.Moves, 1)
	assert.Equal(t, StepDetach, before.Moves[0].Step)
	assert.Equal(t, since.Add(5*time.Minute), before.Moves[0].Deadline, "the default timeout is 5m")
	assert.Contains(t, before.Moves[0].StepText(), "it becomes diskless at 2026-01-02T10:05:00Z (attachedVolumeReattachTimeout 5m)")
	assert.Contains(t, diskful(before.Volumes[0]), leaving)

	after, err := Place(topo, []storagev1alpha1.StorageVolume{synced}, nil, Options{Now: since.Add(5 * time.Minute)})
	require.NoError(t, err)
	require.Len(t, after.Moves, 1)
	assert.Equal(t, StepDropDisk, after.Moves[0].Step)
	assert.Contains(t, after.Moves[0].StepText(), "timed out after 5m waiting for its Pod to move")
	assert.NotContains(t, diskful(after.Volumes[0]), leaving)
	assert.Len(t, diskful(after.Volumes[0]), 2)
	r := after.Volumes[0].Spec.Replica(leaving)
	require.NotNil(t, r, "the replica stays, diskless")
	assert.True(t, r.Diskless)
	assert.Empty(t, r.StoragePool)
	prev := synced.Spec.Replica(leaving)
	assert.Equal(t, []any{prev.NodeID, prev.Port, prev.Minors}, []any{r.NodeID, r.Port, r.Minors}, "the same DRBD replica, only its disk goes")

	tn.EvacuationStrategy = &piraeusv1.EvacuationStrategy{AttachedVolumeReattachTimeout: metav1.Duration{Duration: time.Hour}}
	longer, err := Place(topo, []storagev1alpha1.StorageVolume{synced}, nil, Options{Now: since.Add(5 * time.Minute)})
	require.NoError(t, err)
	assert.Equal(t, StepDetach, longer.Moves[0].Step, "the node's evacuation strategy sets the timeout")
	tn.EvacuationStrategy = nil

	diskless := after.Volumes[0]
	diskless.Status = synced.Status
	still, err := Place(topo, []storagev1alpha1.StorageVolume{diskless}, nil, Options{Now: since.Add(time.Hour)})
	require.NoError(t, err)
	require.Len(t, still.Moves, 1)
	assert.Equal(t, StepDiskless, still.Moves[0].Step)
	assert.Equal(t, withoutReasons(diskless.Spec.Replicas), withoutReasons(still.Volumes[0].Spec.Replicas), "the diskless replica stays while in use")

	for i := range diskless.Status.Replicas {
		diskless.Status.Replicas[i].InUse = false
	}
	detached, err := Place(topo, []storagev1alpha1.StorageVolume{diskless}, nil, Options{Now: since.Add(time.Hour)})
	require.NoError(t, err)
	assert.Nil(t, detached.Volumes[0].Spec.Replica(leaving), "detached: the diskless replica leaves")
	require.Len(t, detached.Moves, 1)
	assert.Equal(t, StepDrop, detached.Moves[0].Step)
	assert.Equal(t, "drop the diskless replica on "+leaving+": the volume is not in use there", detached.Moves[0].StepText())
}

// TestPlaceEvacuation runs the steps through Place, with the status a
// controller would write between them: the replica on the evacuating node
// stays until its replacement is UpToDate, then leaves; a lost node
// (Retain) keeps its replica and gets nothing new.
func TestPlaceEvacuation(t *testing.T) {
	topo, first := placedTwoReplicas(t)
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
