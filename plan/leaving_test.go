package plan

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	piraeusv1 "github.com/piraeusctl/piraeusctl/api/v1"
)

func TestLeavingPolicy(t *testing.T) {
	evacuate := &mergedSatellite{deletion: piraeusv1.DeletionPolicyEvacuate}
	tests := []struct {
		name   string
		prev   storagev1alpha1.TopologyNode
		merged *mergedSatellite
		want   piraeusv1.DeletionPolicy
	}{
		{"nothing set: Retain, as upstream", storagev1alpha1.TopologyNode{}, nil, piraeusv1.DeletionPolicyRetain},
		{"the previous topology's policy (Node gone)", storagev1alpha1.TopologyNode{DeletionPolicy: piraeusv1.DeletionPolicyDelete}, nil, piraeusv1.DeletionPolicyDelete},
		{"the Node's configurations win", storagev1alpha1.TopologyNode{DeletionPolicy: piraeusv1.DeletionPolicyDelete}, evacuate, piraeusv1.DeletionPolicyEvacuate},
		{"configurations without a policy: the previous one", storagev1alpha1.TopologyNode{DeletionPolicy: piraeusv1.DeletionPolicyDelete}, &mergedSatellite{}, piraeusv1.DeletionPolicyDelete},
		{"once leaving, the policy it left with", storagev1alpha1.TopologyNode{Leaving: &storagev1alpha1.NodeLeaving{Policy: piraeusv1.DeletionPolicyRetain}}, evacuate, piraeusv1.DeletionPolicyRetain},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, leavingPolicy(&tt.prev, tt.merged))
		})
	}
}

func TestAdmitEvacuations(t *testing.T) {
	leaving := func(waiting bool) *storagev1alpha1.NodeLeaving {
		return &storagev1alpha1.NodeLeaving{Policy: piraeusv1.DeletionPolicyEvacuate, Waiting: waiting}
	}
	tests := []struct {
		name    string
		started []string // evacuating in the previous topology
		waiting []string // waiting in the previous topology
		limit   int
		want    []string // admitted, of a, b, c
	}{
		{"no limit", nil, nil, 0, []string{"a", "b", "c"}},
		{"limit 1: by name", nil, nil, 1, []string{"a"}},
		{"limit 2: by name", nil, nil, 2, []string{"a", "b"}},
		{"an evacuation under way keeps its slot", []string{"c"}, []string{"a", "b"}, 1, []string{"c"}},
		{"under way first, then by name", []string{"b"}, nil, 2, []string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			previous := &storagev1alpha1.StorageTopologySpec{}
			for _, n := range tt.started {
				previous.Nodes = append(previous.Nodes, storagev1alpha1.TopologyNode{Name: n, Leaving: leaving(false)})
			}
			for _, n := range tt.waiting {
				previous.Nodes = append(previous.Nodes, storagev1alpha1.TopologyNode{Name: n, Leaving: leaving(true)})
			}
			nodes := []*storagev1alpha1.TopologyNode{{Name: "a", Leaving: leaving(false)}, {Name: "b", Leaving: leaving(false)}, {Name: "c", Leaving: leaving(false)}}
			admitEvacuations(nodes, previous, tt.limit)
			var got []string
			for _, n := range nodes {
				if !n.Leaving.Waiting {
					got = append(got, n.Name)
				}
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

// TestLeavingSince: a node that starts leaving records the plan's time,
// later plans carry it over whatever their time, and without a clock
// nothing is recorded.
func TestLeavingSince(t *testing.T) {
	t1 := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	t2 := t1.Add(time.Hour)
	gone := storagev1alpha1.TopologyNode{Name: "w3", DeletionPolicy: piraeusv1.DeletionPolicyEvacuate}
	leavingAt := func(prev storagev1alpha1.TopologyNode, now time.Time) *storagev1alpha1.NodeLeaving {
		m := &Model{}
		m.addLeaving(&prev, nil, now)
		require.Len(t, m.Topology.Spec.Nodes, 1)
		return m.Topology.Spec.Nodes[0].Leaving
	}
	first := leavingAt(gone, t1)
	require.NotNil(t, first.Since)
	assert.Equal(t, t1, first.Since.Time, "starts leaving: now is recorded")

	again := gone
	again.Leaving = first
	assert.Equal(t, t1, leavingAt(again, t2).Since.Time, "carried over")
	assert.Equal(t, t1, leavingAt(again, time.Time{}).Since.Time, "carried over without a clock too")
	assert.Nil(t, leavingAt(gone, time.Time{}).Since, "no clock: nothing recorded")

	older := gone
	older.Leaving = &storagev1alpha1.NodeLeaving{Policy: piraeusv1.DeletionPolicyEvacuate, Reason: storagev1alpha1.LeavingNodeDeleted}
	assert.Equal(t, t2, leavingAt(older, t2).Since.Time, "a topology written without since starts the clock now")
}
