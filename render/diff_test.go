package render

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	piraeusv1 "github.com/piraeusctl/piraeusctl/api/v1"
	"github.com/piraeusctl/piraeusctl/internal/golden"
	"github.com/piraeusctl/piraeusctl/internal/objdiff"
	"github.com/piraeusctl/piraeusctl/planfile"
)

func TestDiffGolden(t *testing.T) {
	old := mustRender(t, newModel(modelOpts{nodes: 3}), testOptions())
	m := newModel(modelOpts{nodeNames: []string{"node-0000", "node-0001", "node-0003"}})
	m.Topology.Spec.Nodes[1].StoragePools[0].Directory = "/var/lib/linstor-pools/moved"
	m.Cluster.Spec.CSIController = &piraeusv1.DeploymentComponentSpec{ComponentSpec: piraeusv1.ComponentSpec{Enabled: true}, Replicas: ptrInt32(2)}
	diffs, err := planfile.Diff(old.Objects, mustRender(t, m, testOptions()).Objects)
	require.NoError(t, err)
	var b strings.Builder
	require.NoError(t, objdiff.Write(&b, diffs))
	golden.Assert(t, golden.Path("diff.txt"), b.String())
	actions := map[string]objdiff.Action{}
	for _, d := range diffs {
		actions[d.ID] = d.Action
	}
	want := map[string]objdiff.Action{
		"apps/v1/Deployment/piraeus-datastore/linstor-csi-controller":     objdiff.Changed,
		"apps/v1/DaemonSet/piraeus-datastore/linstor-satellite-node-0001": objdiff.Changed,
		"apps/v1/DaemonSet/piraeus-datastore/linstor-satellite-node-0003": objdiff.Added,
		"apps/v1/DaemonSet/piraeus-datastore/linstor-satellite-node-0002": objdiff.Removed,
		"storage.piraeus.io/v1alpha1/StorageTopology/default":             objdiff.Changed,
		"piraeus.io/v1/LinstorSatellite/node-0003":                        objdiff.Added,
		"piraeus.io/v1/LinstorSatellite/node-0002":                        objdiff.Removed,
		// gencert may keep only the Secrets of the nodes in the plan.
		"rbac.authorization.k8s.io/v1/Role/piraeus-datastore/piraeus-operator-gencert": objdiff.Changed,
	}
	for id, a := range want {
		assert.Equal(t, a, actions[id], "%s: %q, want %q", id, actions[id], a)
	}
	assert.Len(t, actions, len(want), "diffs for %v", actions)
	same, err := planfile.Diff(old.Objects, old.Objects)
	assert.False(t, err != nil || len(same) != 0, "equal plans: %v, %d diffs", err, len(same))
}

func ptrInt32(i int32) *int32 { return &i }
