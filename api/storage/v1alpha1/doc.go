// Package v1alpha1 holds piraeusctl's own storage API (group
// storage.piraeus.io): the StorageTopology that `piraeusctl plan` computes and
// the in-cluster controller converges node storage to. It is state as well as
// intent: placements and DRBD allocations, once made, are kept by feeding the
// previous topology back into the next plan.
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
