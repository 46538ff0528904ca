package kindorder

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/piraeusctl/piraeusctl/internal/testsupport"
)

func TestTableStagesNeverDecrease(t *testing.T) {
	seen := map[schema.GroupKind]bool{}
	for i, e := range table {
		require.False(t, seen[e.gk], "%v listed twice", e.gk)
		seen[e.gk] = true
		if i > 0 {
			require.GreaterOrEqual(t, e.stage, table[i-1].stage, "%v comes after %v but has an earlier stage", e.gk, table[i-1].gk)
		}
	}
}

func TestStageOf(t *testing.T) {
	cases := map[schema.GroupKind]Stage{
		{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}:               NamespacesCRDs,
		{Group: "storage.k8s.io", Kind: "CSIDriver"}:                                    Classes,
		{Kind: "PersistentVolumeClaim"}:                                                 Workloads,
		{Group: "storage.piraeus.io", Kind: "StorageTopology"}:                          Custom,
		{Group: "example.com", Kind: "Deployment"}:                                      Custom,
		{Group: "admissionregistration.k8s.io", Kind: "ValidatingWebhookConfiguration"}: Webhooks,
	}
	for gk, want := range cases {
		assert.Equal(t, want, StageOf(gk), gk.String())
	}
}

// TestSortedOrderIsApplyOrder: whatever the input order, Sort gives an order
// whose stages never decrease, so Stages splits it without reordering: the
// plan's order is the order apply applies.
func TestSortedOrderIsApplyOrder(t *testing.T) {
	var objs []*unstructured.Unstructured
	for _, e := range table {
		gk := e.gk
		if gk.Empty() {
			gk = schema.GroupKind{Group: "storage.piraeus.io", Kind: "StorageTopology"}
		}
		for i := range 3 {
			objs = append(objs, testsupport.Object(gk.WithVersion("v1").GroupVersion().String(), gk.Kind, fmt.Sprintf("ns-%d", i%2), fmt.Sprintf("o-%d", i)))
		}
	}
	objs = append(objs, testsupport.Object("example.com/v1", "Widget", "", "w"))
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		rng.Shuffle(len(objs), func(i, j int) { objs[i], objs[j] = objs[j], objs[i] })
		Sort(objs)
		require.True(t, slices.IsSortedFunc(objs, func(a, b *unstructured.Unstructured) int {
			return int(ObjectStage(a)) - int(ObjectStage(b))
		}), "stages decrease in the sorted order")
		assert.Equal(t, objs, slices.Concat(Stages(objs)...), "Stages reorders a sorted list")
	}
	assert.Equal(t, "Namespace", objs[0].GetKind())
	assert.Equal(t, Webhooks, ObjectStage(objs[len(objs)-1]))
}

// TestSortOrder pins the whole order of the kinds a plan holds.
func TestSortOrder(t *testing.T) {
	want := []*unstructured.Unstructured{
		testsupport.Object("v1", "Namespace", "", "ns"),
		testsupport.Object("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "a.piraeus.io"),
		testsupport.Object("rbac.authorization.k8s.io/v1", "ClusterRole", "", "a"),
		testsupport.Object("rbac.authorization.k8s.io/v1", "ClusterRole", "", "b"),
		testsupport.Object("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "", "a"),
		testsupport.Object("v1", "ServiceAccount", "a", "z"),
		testsupport.Object("v1", "ServiceAccount", "b", "a"),
		testsupport.Object("rbac.authorization.k8s.io/v1", "Role", "ns", "a"),
		testsupport.Object("rbac.authorization.k8s.io/v1", "RoleBinding", "ns", "a"),
		testsupport.Object("v1", "ConfigMap", "ns", "a"),
		testsupport.Object("v1", "Secret", "ns", "a"),
		testsupport.Object("v1", "Service", "ns", "a"),
		testsupport.Object("storage.k8s.io/v1", "CSIDriver", "", "linstor.csi.linbit.com"),
		testsupport.Object("storage.k8s.io/v1", "StorageClass", "", "a"),
		testsupport.Object("apps/v1", "Deployment", "ns", "a"),
		testsupport.Object("apps/v1", "DaemonSet", "ns", "a"),
		testsupport.Object("apps/v1", "DaemonSet", "ns", "b"),
		testsupport.Object("policy/v1", "PodDisruptionBudget", "ns", "a"),
		testsupport.Object("storage.piraeus.io/v1alpha1", "StorageTopology", "", "default"),
		testsupport.Object("example.com/v1", "Widget", "", "a"),
		testsupport.Object("example.org/v1", "Widget", "", "a"),
		testsupport.Object("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", "", "a"),
	}
	r := rand.New(rand.NewPCG(1, 1))
	for range 20 {
		got := slices.Clone(want)
		r.Shuffle(len(got), func(i, j int) { got[i], got[j] = got[j], got[i] })
		Sort(got)
		require.Equal(t, want, got)
	}
}
