// Package v1alpha1 holds piraeusctl's own storage API (group
// storage.piraeus.io): the StorageTopology (the cluster's shape: nodes,
// pools, node connections, resource groups), one StorageVolume per volume
// and one StorageSnapshot per snapshot, which `piraeusctl plan` computes and
// the controller converges node storage to, and the NodeAllocation ledgers
// of DRBD numbers. Volumes are state as well as intent: placements and DRBD
// allocations, once made, are kept by feeding the previous volumes back into
// the next plan, and the API server refuses to change an allocation.
//
// +kubebuilder:object:generate=true
// +groupName=storage.piraeus.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

// GroupVersion is the API group and version of this package.
var GroupVersion = schema.GroupVersion{Group: "storage.piraeus.io", Version: "v1alpha1"}

// SchemeBuilder registers this package's types with a runtime.Scheme.
var SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

// AddToScheme adds the types of this group-version to a scheme.
var AddToScheme = SchemeBuilder.AddToScheme
