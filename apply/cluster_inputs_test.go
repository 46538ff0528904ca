package apply

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// piraeusCRDs returns the project's generated CRDs (api/crds).
func piraeusCRDs(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	files, err := filepath.Glob("../api/crds/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	var out []*unstructured.Unstructured
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		objs, err := DecodeManifests(data)
		require.NoError(t, err, f)
		out = append(out, objs...)
	}
	return out
}

// inputKinds are the kinds the test reads back: built-in ones and optional
// custom ones.
var inputKinds = []ClusterKind{
	{GroupVersionKind: schema.GroupVersionKind{Version: "v1", Kind: "Node"}},
	{GroupVersionKind: schema.GroupVersionKind{Group: "storage.k8s.io", Version: "v1", Kind: "StorageClass"}},
	{GroupVersionKind: schema.GroupVersionKind{Version: "v1", Kind: "PersistentVolumeClaim"}},
	{GroupVersionKind: schema.GroupVersionKind{Group: "piraeus.io", Version: "v1", Kind: "LinstorCluster"}, Optional: true},
}

// TestPiraeusCRDsAndStorageState installs the project's CRDs, reads objects
// back, and checks that a keep rule for a group keeps its objects.
func TestPiraeusCRDsAndStorageState(t *testing.T) {
	cfg := kube.Config(t)
	id := testID("inputs")
	ns := "apply-" + id
	before, err := ReadClusterInputs(t.Context(), cfg, inputKinds, ns)
	require.NoError(t, err)
	for _, s := range before {
		assert.NotContains(t, s.Name, "Linstor", "no piraeus.io CRDs yet")
	}

	objs := append(piraeusCRDs(t), testObjects(t, id)...)
	extra, err := DecodeManifests([]byte(`
apiVersion: v1
kind: Node
metadata:
  name: ` + id + `-node-a
  labels: {kubernetes.io/hostname: ` + id + `-node-a}
---
apiVersion: piraeus.io/v1
kind: LinstorCluster
metadata:
  name: linstorcluster
spec:
  nodeSelector: {kubernetes.io/os: linux}
---
apiVersion: storage.piraeus.io/v1alpha1
kind: StorageTopology
metadata:
  name: ` + id + `
spec:
  allocation: {minorMin: 1000, minorMax: 1048575, portMin: 7000, portMax: 7999}
`))
	require.NoError(t, err)
	objs = append(objs, extra...)
	opts := testOptions(id)
	opts.Prune = true
	opts.Keep = append(DataSafetyRules(), KeepGroup("storage.piraeus.io", "storage state", "defines storage state"))
	res, err := Run(t.Context(), cfg, objs, opts)
	require.NoError(t, err, res.SummaryLine())
	assert.Equal(t, len(objs), res.Summary[Created]+res.Summary[Unchanged], res.SummaryLine())

	sources, err := ReadClusterInputs(t.Context(), cfg, inputKinds, ns)
	require.NoError(t, err)
	byName := map[string]string{}
	for _, s := range sources {
		byName[s.Name] = string(s.Data)
	}
	assert.Contains(t, byName["cluster/Node.yaml"], "name: "+id+"-node-a")
	assert.Contains(t, byName["cluster/StorageClass.yaml"], "name: apply-"+id+"-replicated")
	assert.Contains(t, byName["cluster/PersistentVolumeClaim.yaml"], "name: data")
	assert.Contains(t, byName["cluster/LinstorCluster.yaml"], "kind: LinstorCluster")
	for name, data := range byName {
		assert.NotContains(t, data, "managedFields", name)
		assert.True(t, strings.HasPrefix(data, "---\n"), name)
		decoded, err := DecodeManifests([]byte(data))
		require.NoError(t, err, name)
		assert.NotEmpty(t, decoded, name)
	}

	// The StorageTopology leaves the plan: its group's rule keeps it.
	res, err = Run(t.Context(), cfg, without(objs, "StorageTopology", id), opts)
	require.NoError(t, err)
	assert.Equal(t, Kept, actions(res)["StorageTopology/"+id])
	assert.Equal(t, "StorageTopology/"+id+" kept: storage state", res.Changes[len(res.Changes)-1].String())
	assert.Zero(t, res.Summary[Pruned], res.SummaryLine())
}
