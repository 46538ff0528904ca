// Package v1 holds the piraeus.io/v1 API that Piraeus users already write:
// LinstorCluster, LinstorSatelliteConfiguration and LinstorNodeConnection,
// field for field as the upstream piraeus-operator v2 CRDs define them, so
// that upstream documentation examples load unchanged. The CRDs generated from
// these types (api/crds) are the one schema both `piraeusctl plan` and the
// admission webhook validate against.
//
// +kubebuilder:object:generate=true
// +groupName=piraeus.io
package v1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

// GroupVersion is the API group and version of this package.
var GroupVersion = schema.GroupVersion{Group: "piraeus.io", Version: "v1"}

// SchemeBuilder registers this package's types with a runtime.Scheme.
var SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

// AddToScheme adds the types of this group-version to a scheme.
var AddToScheme = SchemeBuilder.AddToScheme
