package controller

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
)

// snap is snapshot "s1" of pvc-three on n1 and n2, taken on the nodes in taken.
func snap(taken ...string) *storagev1alpha1.StorageSnapshot {
	s := &storagev1alpha1.StorageSnapshot{
		ObjectMeta: metav1.ObjectMeta{Name: "pvc-three.s1", UID: types.UID("uid-snap"), Generation: 1},
		Spec: storagev1alpha1.StorageSnapshotSpec{Volume: "pvc-three", VolumeUID: "uid-pvc-three", SnapshotName: "s1", Nodes: []string{"n1", "n2"},
			Volumes:    []storagev1alpha1.VolumeDefinition{{Number: 0, SizeBytes: 1 << 30}},
			Properties: map[string]string{propSnapshotPoolPrefix + "n1": "thin", propSnapshotPoolPrefix + "n2": "thin"}},
	}
	for _, n := range taken {
		s.Status.Nodes = append(s.Status.Nodes, storagev1alpha1.SnapshotNodeStatus{Node: n, Taken: true})
	}
	return s
}

func TestDesiredSnapshots(t *testing.T) {
	deleting := snap()
	deleting.Name, deleting.Spec.SnapshotName = "pvc-three.s2", "s2"
	deleting.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	unbound := snap()
	unbound.Name, unbound.Spec.SnapshotName, unbound.Spec.VolumeUID = "pvc-three.s3", "s3", ""
	tests := []struct {
		name  string
		node  string
		snaps []*storagev1alpha1.StorageSnapshot
		want  []*agentv1.Snapshot
	}{
		{"not taken: take", "n1", []*storagev1alpha1.StorageSnapshot{snap()}, []*agentv1.Snapshot{
			{Resource: "pvc-three", ResourceUid: "uid-pvc-three", Name: "s1", Uid: "uid-snap", Take: true, Volumes: []*agentv1.SnapshotVolume{{Number: 0, StoragePool: "thin"}}}}},
		{"taken: keep, never re-take", "n1", []*storagev1alpha1.StorageSnapshot{snap("n1")}, []*agentv1.Snapshot{
			{Resource: "pvc-three", ResourceUid: "uid-pvc-three", Name: "s1", Uid: "uid-snap", Volumes: []*agentv1.SnapshotVolume{{Number: 0, StoragePool: "thin"}}}}},
		{"other node", "n3", []*storagev1alpha1.StorageSnapshot{snap()}, nil},
		{"being deleted or unbound: left out", "n1", []*storagev1alpha1.StorageSnapshot{deleting, unbound}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, problems := Desired(tt.node, DesiredInput{Topology: testTopology(), Snapshots: tt.snaps})
			require.Empty(t, problems)
			assert.Equal(t, len(tt.want), len(d.Snapshots), "snapshots %v", d.Snapshots)
			for i := range tt.want {
				assert.Truef(t, protoEqual(tt.want[i], d.Snapshots[i]), "snapshot %d = %v, want %v", i, d.Snapshots[i], tt.want[i])
			}
		})
	}
}

// TestDesiredRestore: a fresh volume restored from a snapshot is created
// from it only on nodes where it is taken; elsewhere (or before) it is left
// out with a problem, never created empty; once Ready it needs no source.
func TestDesiredRestore(t *testing.T) {
	restored := vol("pvc-new", "replicated", diskful("n1", 0, 7005, 1005), diskful("n2", 1, 7005, 1005))
	restored.Spec.Source = &storagev1alpha1.VolumeSource{Snapshot: "pvc-three.s1"}
	always := func(*storagev1alpha1.StorageVolume) bool { return true }
	for _, tt := range []struct {
		name    string
		node    string
		sources map[string]*storagev1alpha1.StorageSnapshot
		fresh   func(*storagev1alpha1.StorageVolume) bool
		restore bool
		problem string
	}{
		{"taken on the node", "n1", map[string]*storagev1alpha1.StorageSnapshot{"pvc-three.s1": snap("n1")}, always, true, ""},
		{"not taken on the node", "n2", map[string]*storagev1alpha1.StorageSnapshot{"pvc-three.s1": snap("n1")}, always, false, "to be taken on n2"},
		{"snapshot missing", "n1", nil, always, false, "waiting for snapshot pvc-three.s1"},
		{"ready once: no source", "n1", nil, func(*storagev1alpha1.StorageVolume) bool { return false }, false, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, problems := Desired(tt.node, DesiredInput{Topology: testTopology(), Volumes: []*storagev1alpha1.StorageVolume{restored}, Fresh: tt.fresh, Sources: tt.sources})
			if tt.problem != "" {
				require.Contains(t, problems, "pvc-new")
				assert.ErrorContains(t, problems["pvc-new"], tt.problem)
				assert.Empty(t, d.Resources, "a volume waiting for its snapshot must not be created")
				return
			}
			require.Empty(t, problems)
			require.Len(t, d.Resources, 1)
			src := d.Resources[0].RestoreFrom
			assert.Equal(t, tt.restore, src != nil, "restore_from = %v", src)
			if tt.restore {
				assert.Equal(t, &agentv1.SnapshotSource{Resource: "pvc-three", Snapshot: "s1", Uid: "uid-snap"}, src)
				assert.False(t, d.Resources[0].Drbd.SkipInitialSync, "restored data must be synced, not assumed zero")
			}
		})
	}
}

func TestSnapshotStatus(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	report := func(taken bool, errMsg string) *NodeReport {
		return &NodeReport{Connected: true, Status: &agentv1.NodeStatus{Snapshots: []*agentv1.SnapshotStatus{
			{Resource: "pvc-three", Name: "s1", Uid: "uid-snap", Taken: taken, Error: errMsg}}}}
	}
	s := snap()
	st := SnapshotStatus(s, map[string]*NodeReport{"n1": report(true, ""), "n2": report(false, "volume 0 not here")}, "", now)
	assert.False(t, st.ReadyToUse)
	assert.Nil(t, st.CreationTime)
	c := meta.FindStatusCondition(st.Conditions, storagev1alpha1.ConditionReady)
	require.NotNil(t, c)
	assert.Contains(t, c.Message, "n2: volume 0 not here")

	st = SnapshotStatus(s, map[string]*NodeReport{"n1": report(true, ""), "n2": report(true, "")}, "", now)
	assert.True(t, st.ReadyToUse)
	require.NotNil(t, st.CreationTime)
	assert.Equal(t, now, st.CreationTime.Time.UTC())
	s.Status = st
	// An agent that is not heard keeps its node taken; readyToUse stays.
	again := SnapshotStatus(s, map[string]*NodeReport{"n1": report(true, "")}, "", now.Add(time.Minute))
	assert.True(t, again.ReadyToUse && again.Nodes[1].Taken && again.CreationTime.Equal(st.CreationTime), "status %+v", again)
	// A foreign uid on the node is not this snapshot.
	other := report(true, "")
	other.Status.Snapshots[0].Uid = "someone-else"
	st = SnapshotStatus(snap(), map[string]*NodeReport{"n1": other, "n2": report(true, "")}, "", now)
	assert.False(t, st.ReadyToUse)
	assert.False(t, st.Nodes[0].Taken, "a snapshot with a foreign uid is not taken")
}

func protoEqual(a, b *agentv1.Snapshot) bool { return proto.Equal(a, b) }
