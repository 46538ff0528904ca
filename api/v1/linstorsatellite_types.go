package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// LinstorSatelliteSpec is one node's satellite: the merge, in name order, of
// every LinstorSatelliteConfiguration that selects the node. The plan
// renders one per node (named after it); it is not meant to be edited.
type LinstorSatelliteSpec struct {
	// ClusterRef references the LinstorCluster the satellite belongs to.
	ClusterRef ClusterReference `json:"clusterRef"`

	// Repository used to pull workload images.
	// +kubebuilder:validation:Optional
	Repository string `json:"repository,omitempty"`

	// Patches applied to the satellite's objects, from the matching configurations.
	// +kubebuilder:validation:Optional
	Patches []Patch `json:"patches,omitempty"`

	// StoragePools configured on the node.
	// +kubebuilder:validation:Optional
	StoragePools []LinstorStoragePool `json:"storagePools,omitempty"`

	// Properties set on the node.
	// +kubebuilder:validation:Optional
	// +listType=map
	// +listMapKey=name
	Properties []LinstorNodeProperty `json:"properties,omitempty"`

	// InternalTLS secures controller-satellite traffic with mTLS.
	// +kubebuilder:validation:Optional
	// +nullable
	InternalTLS *TLSConfigWithHandshakeDaemon `json:"internalTLS,omitempty"`

	// IPFamilies the controller uses to reach the satellite.
	// +kubebuilder:validation:Optional
	IPFamilies []IPFamily `json:"ipFamilies,omitempty"`

	// DeletionPolicy when the node leaves the cluster.
	// +kubebuilder:validation:Optional
	// +kubebuilder:default:=Retain
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// EvacuationStrategy of the satellite when its deletion policy is
	// Evacuate, from the matching configurations.
	// +kubebuilder:validation:Optional
	EvacuationStrategy *EvacuationStrategy `json:"evacuationStrategy,omitempty"`
}

// ClusterReference names the LinstorCluster of a satellite.
type ClusterReference struct {
	// Name of the LinstorCluster.
	// +kubebuilder:validation:Optional
	Name string `json:"name,omitempty"`

	// ClientSecretName is the Secret used to reach the controller's API over TLS.
	// +kubebuilder:validation:Optional
	ClientSecretName string `json:"clientSecretName,omitempty"`

	// ExternalController references an external controller.
	// +kubebuilder:validation:Optional
	ExternalController *LinstorExternalControllerRef `json:"externalController,omitempty"`
}

// LinstorSatelliteStatus is the observed state of a satellite.
type LinstorSatelliteStatus struct {
	// Conditions: Applied, Available, Configured, EvacuationCompleted.
	// +kubebuilder:validation:Optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// LinstorSatellite is the state of one node's satellite, as upstream
// piraeus-operator v2 keeps it (one per node, made by the operator).
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster
// +kubebuilder:printcolumn:name="Connected",type=string,JSONPath=`.status.conditions[?(@.type=='Available')].status`,description="Whether the controller is connected to the satellite"
// +kubebuilder:printcolumn:name="Deployed",type=string,JSONPath=`.status.conditions[?(@.type=='Applied')].status`,description="Whether the satellite's objects are applied"
// +kubebuilder:printcolumn:name="Configured",type=string,JSONPath=`.status.conditions[?(@.type=='Configured')].status`,description="Whether storage pools and properties are set up"
// +kubebuilder:printcolumn:name="Deletion Policy",type=string,JSONPath=`.spec.deletionPolicy`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type LinstorSatellite struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   LinstorSatelliteSpec   `json:"spec,omitempty"`
	Status LinstorSatelliteStatus `json:"status,omitempty"`
}

// LinstorSatelliteList is a list of LinstorSatellite.
// +kubebuilder:object:root=true
type LinstorSatelliteList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []LinstorSatellite `json:"items"`
}

func init() {
	SchemeBuilder.Register(&LinstorSatellite{}, &LinstorSatelliteList{})
}
