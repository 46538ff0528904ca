package operator

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestKeepRules: apply --prune keeps volumes, claims and the storage state
// (and its CRD), and lets everything else go.
func TestKeepRules(t *testing.T) {
	keep := func(apiVersion, kind string, spec map[string]any) string {
		o := &unstructured.Unstructured{Object: map[string]any{"apiVersion": apiVersion, "kind": kind,
			"metadata": map[string]any{"name": "x"}, "spec": spec}}
		for _, rule := range KeepRules() {
			reason, err := rule(t.Context(), nil, o) // no rule asks the cluster about these
			require.NoError(t, err)
			if reason != "" {
				return reason
			}
		}
		return ""
	}
	assert.Contains(t, keep("v1", "PersistentVolume", nil), "never pruned")
	assert.Contains(t, keep("v1", "PersistentVolumeClaim", nil), "never pruned")
	assert.Equal(t, "storage state (storage.piraeus.io) is never pruned", keep("storage.piraeus.io/v1alpha1", "StorageTopology", nil))
	assert.Equal(t, "defines storage state (storage.piraeus.io): never pruned",
		keep("apiextensions.k8s.io/v1", "CustomResourceDefinition", map[string]any{"group": StorageGroup}))
	assert.Empty(t, keep("apps/v1", "DaemonSet", nil))
	assert.Empty(t, keep("piraeus.io/v1", "LinstorCluster", nil))
}
