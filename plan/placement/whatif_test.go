package placement

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	"github.com/piraeusctl/piraeusctl/internal/golden"
)

// whatIfSpec: zones3x3 placed, plus a 2-replica volume with a tie-breaker
// and a single-replica volume, each with a claim.
func whatIfSpec(t *testing.T) *scenario {
	t.Helper()
	s := zones3x3()
	s.ResourceGroups = append(s.ResourceGroups, testGroup("two", 2, nil, zoneKey), testGroup("single", 1, nil))
	s.volumes = append(s.volumes, testVolumes("two", 1, 1)...)
	s.volumes = append(s.volumes, testVolumes("single", 1, 1)...)
	for i := range s.volumes {
		s.volumes[i].Spec.Claim = &storagev1alpha1.ClaimReference{Namespace: "app", Name: "data-" + s.volumes[i].Name}
	}
	res, err := place(s, nil, DefaultOptions())
	require.NoError(t, err)
	return s.with(res.Volumes)
}

func TestWhatIf(t *testing.T) {
	spec := whatIfSpec(t)
	byName := volumesByName(spec.volumes)
	single := byName["pvc-single-0000"]
	two := byName["pvc-two-0000"]
	// fail the single replica's node and one diskful node of the 2-replica volume
	failed := []string{single.Spec.Replicas[0].Node, nodesOf(two, false)[0]}
	if failed[0] == failed[1] {
		failed = failed[:1]
	}
	pods := []PodClaims{
		{Namespace: "app", Name: "single-user", Node: "node-a1", Claims: []string{"data-pvc-single-0000"}},
		{Namespace: "app", Name: "on-failed", Node: failed[len(failed)-1], Claims: []string{"data-pvc-two-0000"}},
		{Namespace: "app", Name: "unknown-node", Claims: []string{"data-pvc-two-0000"}},
		{Namespace: "app", Name: "unrelated", Node: "node-c3", Claims: []string{"other"}},
	}
	report, err := WhatIf(&spec.StorageTopologySpec, spec.volumes, failed, pods)
	require.NoError(t, err)

	impacts := map[string]VolumeImpact{}
	for _, v := range report.Volumes {
		impacts[v.Volume] = v
	}
	assert.Equal(t, OutcomeDataLost, impacts["pvc-single-0000"].Outcome)
	assert.Equal(t, OutcomeDegraded, impacts["pvc-two-0000"].Outcome, "the tie-breaker keeps quorum")
	actions := map[string]PodAction{}
	for _, p := range report.Pods {
		actions[p.Name] = p.Action
	}
	assert.Equal(t, PodBlocked, actions["single-user"])
	assert.NotContains(t, actions, "unrelated")
	assert.Equal(t, PodAtRisk, actions["unknown-node"])

	var text bytes.Buffer
	require.NoError(t, report.WriteText(&text))
	golden.Assert(t, golden.Path("whatif.txt"), text.Bytes())
	js, err := json.MarshalIndent(report, "", "  ")
	require.NoError(t, err)
	golden.Assert(t, golden.Path("whatif.json"), append(js, '\n'))
}

func TestWhatIfQuorum(t *testing.T) {
	tests := []struct {
		name     string
		replicas []storagev1alpha1.Replica
		failed   []string
		want     Outcome
	}{
		{"3 diskful, 1 lost", diskfulOn("a", "b", "c"), []string{"a"}, OutcomeDegraded},
		{"3 diskful, 2 lost", diskfulOn("a", "b", "c"), []string{"a", "b"}, OutcomeQuorumLost},
		{"3 diskful, all lost", diskfulOn("a", "b", "c"), []string{"a", "b", "c"}, OutcomeDataLost},
		{"2 diskful without tie-breaker", diskfulOn("a", "b"), []string{"a"}, OutcomeQuorumLost},
		{"2 diskful with tie-breaker", append(diskfulOn("a", "b"), storagev1alpha1.Replica{Node: "c", Diskless: true, TieBreaker: true}), []string{"a"}, OutcomeDegraded},
		{"2 diskful, tie-breaker lost too", append(diskfulOn("a", "b"), storagev1alpha1.Replica{Node: "c", Diskless: true, TieBreaker: true}), []string{"a", "c"}, OutcomeQuorumLost},
		{"only the tie-breaker lost", append(diskfulOn("a", "b"), storagev1alpha1.Replica{Node: "c", Diskless: true, TieBreaker: true}), []string{"c"}, OutcomeDegraded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			failed := map[string]bool{}
			for _, n := range tt.failed {
				failed[n] = true
			}
			vi := volumeImpact(volumeWith(tt.replicas), failed)
			require.NotNil(t, vi)
			assert.Equal(t, tt.want, vi.Outcome)
		})
	}
	assert.Nil(t, volumeImpact(volumeWith(diskfulOn("a")), map[string]bool{"b": true}))
}

func TestWhatIfUnknownNode(t *testing.T) {
	_, err := WhatIf(threeNodes().StorageTopologySpec.DeepCopy(), nil, []string{"nope"}, nil)
	assert.EqualError(t, err, `what-if: node "nope" is not a storage node of the topology`)
}

func diskfulOn(nodes ...string) []storagev1alpha1.Replica {
	out := make([]storagev1alpha1.Replica, len(nodes))
	for i, n := range nodes {
		out[i] = storagev1alpha1.Replica{Node: n, StoragePool: "p"}
	}
	return out
}

func volumeWith(replicas []storagev1alpha1.Replica) *storagev1alpha1.StorageVolume {
	v := &storagev1alpha1.StorageVolume{}
	v.Name = "v"
	v.Spec.Replicas = replicas
	return v
}
