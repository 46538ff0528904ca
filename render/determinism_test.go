package render

import (
	"bytes"
	"math/rand"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/piraeusctl/piraeusctl/internal/kindorder"
)

// Rendering the same model must give the same bytes every time: no map
// order, no timestamps, no random names.
func TestDeterministic(t *testing.T) {
	var first []byte
	for i := 0; i < 5; i++ {
		var buf bytes.Buffer
		if err := mustRender(t, featureModel(), testOptions()).WriteYAML(&buf); err != nil {
			t.Fatal(err)
		}
		var js bytes.Buffer
		if err := mustRender(t, featureModel(), testOptions()).WriteJSON(&js); err != nil {
			t.Fatal(err)
		}
		buf.Write(js.Bytes())
		if first == nil {
			first = buf.Bytes()
			continue
		}
		if !bytes.Equal(first, buf.Bytes()) {
			t.Fatalf("render %d differs:\n%s", i, unifiedDiff("first", "again", string(first), buf.String()))
		}
	}
}

func TestSortOrder(t *testing.T) {
	want := []*unstructured.Unstructured{
		obj("v1", "Namespace", "", "ns", nil),
		obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "a.piraeus.io", nil),
		obj("rbac.authorization.k8s.io/v1", "ClusterRole", "", "a", nil),
		obj("rbac.authorization.k8s.io/v1", "ClusterRole", "", "b", nil),
		obj("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "", "a", nil),
		obj("v1", "ServiceAccount", "a", "z", nil),
		obj("v1", "ServiceAccount", "b", "a", nil),
		obj("rbac.authorization.k8s.io/v1", "Role", "ns", "a", nil),
		obj("rbac.authorization.k8s.io/v1", "RoleBinding", "ns", "a", nil),
		obj("v1", "ConfigMap", "ns", "a", nil),
		obj("v1", "Secret", "ns", "a", nil),
		obj("v1", "Service", "ns", "a", nil),
		obj("storage.k8s.io/v1", "CSIDriver", "", "linstor.csi.linbit.com", nil),
		obj("storage.k8s.io/v1", "StorageClass", "", "a", nil),
		obj("apps/v1", "Deployment", "ns", "a", nil),
		obj("apps/v1", "DaemonSet", "ns", "a", nil),
		obj("apps/v1", "DaemonSet", "ns", "b", nil),
		obj("policy/v1", "PodDisruptionBudget", "ns", "a", nil),
		obj("example.com/v1", "Widget", "", "a", nil),
		obj("example.org/v1", "Widget", "", "a", nil),
		obj("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", "", "a", nil),
		obj("storage.piraeus.io/v1alpha1", "StorageTopology", "", "default", nil),
	}
	r := rand.New(rand.NewSource(1))
	for round := 0; round < 20; round++ {
		got := append([]*unstructured.Unstructured(nil), want...)
		r.Shuffle(len(got), func(i, j int) { got[i], got[j] = got[j], got[i] })
		kindorder.Sort(got)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("position %d: %s, want %s", i, ObjectID(got[i]), ObjectID(want[i]))
			}
		}
	}
}
