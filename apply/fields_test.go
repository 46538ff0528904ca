package apply

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestChangedFields(t *testing.T) {
	base := func() *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apps/v1", "kind": "DaemonSet",
			"metadata": map[string]any{"name": "x", "resourceVersion": "1", "labels": map[string]any{"a": "1"}},
			"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
				"containers": []any{map[string]any{"name": "c", "image": "i:1"}}, "hostNetwork": true}}},
			"status": map[string]any{"numberReady": int64(1)},
		}}
	}
	for _, tc := range []struct {
		name string
		edit func(o *unstructured.Unstructured)
		want []string
	}{
		{"same", func(*unstructured.Unstructured) {}, nil},
		{"server-managed only", func(o *unstructured.Unstructured) {
			o.SetResourceVersion("2")
			_ = unstructured.SetNestedField(o.Object, int64(3), "status", "numberReady")
		}, nil},
		{"label", func(o *unstructured.Unstructured) { o.SetLabels(map[string]string{"a": "2"}) }, []string{"metadata.labels.a"}},
		{"container image and host network", func(o *unstructured.Unstructured) {
			_ = unstructured.SetNestedSlice(o.Object, []any{map[string]any{"name": "c", "image": "i:2"}}, "spec", "template", "spec", "containers")
			unstructured.RemoveNestedField(o.Object, "spec", "template", "spec", "hostNetwork")
		}, []string{"spec.template.spec.containers", "spec.template.spec.hostNetwork"}},
		{"missing object", nil, []string{"metadata", "spec"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.edit == nil {
				assert.Equal(t, tc.want, ChangedFields(nil, base()))
				return
			}
			after := base()
			tc.edit(after)
			assert.Equal(t, tc.want, ChangedFields(base(), after))
		})
	}
}
