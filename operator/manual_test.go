package operator

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/cache"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
)

func TestMergeStep(t *testing.T) {
	r := func(node string, diskless bool) storagev1alpha1.Replica {
		return storagev1alpha1.Replica{Node: node, StoragePool: "thin", Diskless: diskless}
	}
	rs := func(x ...storagev1alpha1.Replica) []storagev1alpha1.Replica { return x }
	for _, tc := range []struct {
		name                      string
		prev, planned, live, want []storagev1alpha1.Replica
	}{
		{"a replacement added", rs(r("a", false), r("b", false)), rs(r("a", false), r("b", false), r("c", false)),
			rs(r("a", false), r("b", false)), rs(r("a", false), r("b", false), r("c", false))},
		{"the old replica dropped", rs(r("a", false), r("b", false), r("c", false)), rs(r("b", false), r("c", false)),
			rs(r("a", false), r("b", false), r("c", false)), rs(r("b", false), r("c", false))},
		{"a disk dropped", rs(r("a", false), r("b", false)), rs(r("a", true), r("b", false)),
			rs(r("a", false), r("b", false)), rs(r("a", true), r("b", false))},
		{"a replica the API added meanwhile stays", rs(r("a", false), r("b", false)), rs(r("a", false), r("b", false), r("c", false)),
			rs(r("a", false), r("b", false), r("d", true)), rs(r("a", false), r("b", false), r("c", false), r("d", true))},
		{"a replica the API removed meanwhile is not put back", rs(r("a", false), r("b", false), r("d", true)), rs(r("a", false), r("b", false), r("c", false), r("d", true)),
			rs(r("a", false), r("b", false)), rs(r("a", false), r("b", false), r("c", false))},
		{"a replacement already there is left as it is", rs(r("a", false)), rs(r("a", false), r("c", false)),
			rs(r("a", false), r("c", true)), rs(r("a", false), r("c", true))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, mergeStep(tc.prev, tc.planned, tc.live))
		})
	}
}

func TestAPIOwnedEventsSkipThePass(t *testing.T) {
	sv := func(manual bool) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "storage.piraeus.io/v1alpha1", "kind": "StorageVolume",
			"metadata": map[string]any{"name": "pvc-1"}, "spec": map[string]any{"manualPlacement": manual}}}
		return u
	}
	node := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Node", "metadata": map[string]any{"name": "n1"}}}
	w := &watcher{}
	assert.True(t, w.apiOwned(sv(true)), "a CSI volume: no pass")
	assert.True(t, w.apiOwned(cache.DeletedFinalStateUnknown{Obj: sv(true)}), "nor when its deletion is seen late")
	assert.False(t, w.apiOwned(sv(false)), "a volume the plan renders: a pass")
	assert.False(t, w.apiOwned(node), "anything else: a pass")
	w.evacuating.Store(true)
	assert.False(t, w.apiOwned(sv(true)), "during an evacuation, CSI volumes count: their steps are the pass's")
}
