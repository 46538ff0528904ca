package main

import (
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/piraeusctl/piraeusctl/apply"
)

// storageGroup is the API group of the datastore's storage state.
const storageGroup = "storage.piraeus.io"

// keepRules are what apply --prune never deletes: Kubernetes' data-holding
// objects (apply.DataSafetyRules) and the datastore's storage state, which
// says where every volume's data lives.
func keepRules() []apply.KeepRule {
	storage := apply.KeepGroup(storageGroup, "storage state ("+storageGroup+") is never pruned",
		"defines storage state ("+storageGroup+"): never pruned")
	return append([]apply.KeepRule{storage}, apply.DataSafetyRules()...)
}

// planInputKinds are the kinds plan --from-cluster reads: what a Piraeus
// user has in the cluster (the piraeus.io kinds only where their CRDs are
// installed).
var planInputKinds = []apply.ClusterKind{
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
}
