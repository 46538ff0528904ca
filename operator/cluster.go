package operator

import (
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/piraeusctl/piraeusctl/apply"
)

// StorageGroup is the API group of the datastore's storage state.
const StorageGroup = "storage.piraeus.io"

// KeepRules are what apply --prune and the loop never delete: Kubernetes' data-holding
// objects (apply.DataSafetyRules) and the datastore's storage state, which
// says where every volume's data lives.
func KeepRules() []apply.KeepRule {
	storage := apply.KeepGroup(StorageGroup, "storage state ("+StorageGroup+") is never pruned",
		"defines storage state ("+StorageGroup+"): never pruned")
	return append([]apply.KeepRule{storage}, apply.DataSafetyRules()...)
}

// InputKinds are the kinds plan --from-cluster and the loop read: what a Piraeus
// user has in the cluster (the piraeus.io kinds only where their CRDs are
// installed).
var InputKinds = []apply.ClusterKind{
	{GroupVersionKind: schema.GroupVersionKind{Version: "v1", Kind: "Node"}},
	{GroupVersionKind: schema.GroupVersionKind{Group: "storage.k8s.io", Version: "v1", Kind: "StorageClass"}},
	{GroupVersionKind: schema.GroupVersionKind{Version: "v1", Kind: "PersistentVolume"}},
	{GroupVersionKind: schema.GroupVersionKind{Version: "v1", Kind: "PersistentVolumeClaim"}},
	{GroupVersionKind: schema.GroupVersionKind{Group: "piraeus.io", Version: "v1", Kind: "LinstorCluster"}, Optional: true},
	{GroupVersionKind: schema.GroupVersionKind{Group: "piraeus.io", Version: "v1", Kind: "LinstorSatelliteConfiguration"}, Optional: true},
	{GroupVersionKind: schema.GroupVersionKind{Group: "piraeus.io", Version: "v1", Kind: "LinstorNodeConnection"}, Optional: true},
	// The storage state: the previous topology's settings and every volume
	// with its placement and allocations, which the next plan keeps.
	{GroupVersionKind: schema.GroupVersionKind{Group: "storage.piraeus.io", Version: "v1alpha1", Kind: "StorageTopology"}, Optional: true},
	{GroupVersionKind: schema.GroupVersionKind{Group: "storage.piraeus.io", Version: "v1alpha1", Kind: "StorageVolume"}, Optional: true},
	// The controller's ledgers: new replicas get numbers they do not hold
	// (a replica leaving a node keeps its numbers until it is removed).
	{GroupVersionKind: schema.GroupVersionKind{Group: "storage.piraeus.io", Version: "v1alpha1", Kind: "NodeAllocation"}, Optional: true},
}
