package v1

import (
	"encoding/json"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// LinstorSatelliteConfigurationSpec is a partial satellite configuration. All
// configurations that select a node are merged, in name order, into that
// node's satellite configuration.
type LinstorSatelliteConfigurationSpec struct {
	// NodeSelector selects the nodes this configuration applies to.
	// +kubebuilder:validation:Optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// NodeAffinity selects the nodes this configuration applies to.
	// +kubebuilder:validation:Optional
	NodeAffinity *corev1.NodeSelector `json:"nodeAffinity,omitempty"`

	// Patches applied to the rendered satellite objects of the selected nodes.
	// +kubebuilder:validation:Optional
	Patches []Patch `json:"patches,omitempty"`

	// StoragePools to configure on the selected nodes.
	// +kubebuilder:validation:Optional
	StoragePools []LinstorStoragePool `json:"storagePools,omitempty"`

	// Properties set on the selected nodes.
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

	// DeletionPolicy for satellites that leave the cluster.
	// +kubebuilder:validation:Optional
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// EvacuationStrategy tunes the evacuation of a satellite whose deletion
	// policy is Evacuate.
	// +kubebuilder:validation:Optional
	EvacuationStrategy *EvacuationStrategy `json:"evacuationStrategy,omitempty"`

	// PodTemplate is merged into the satellite Pod template (strategic merge).
	// +kubebuilder:validation:Optional
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	// +kubebuilder:pruning:PreserveUnknownFields
	// +structType=atomic
	PodTemplate json.RawMessage `json:"podTemplate,omitempty"`
}

// LinstorSatelliteConfigurationStatus is the observed state of a configuration.
type LinstorSatelliteConfigurationStatus struct {
	// Conditions: Applied.
	// +kubebuilder:validation:Optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// LinstorSatelliteConfiguration configures the satellites of the nodes it selects.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster
// +kubebuilder:printcolumn:name="Applied",type=string,JSONPath=`.status.conditions[?(@.type=='Applied')].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type LinstorSatelliteConfiguration struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   LinstorSatelliteConfigurationSpec   `json:"spec,omitempty"`
	Status LinstorSatelliteConfigurationStatus `json:"status,omitempty"`
}

// LinstorSatelliteConfigurationList is a list of LinstorSatelliteConfiguration.
// +kubebuilder:object:root=true
type LinstorSatelliteConfigurationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []LinstorSatelliteConfiguration `json:"items"`
}

func init() {
	SchemeBuilder.Register(&LinstorSatelliteConfiguration{}, &LinstorSatelliteConfigurationList{})
}

// EvacuationStrategy configures how long an evacuation waits for volumes to
// move to other nodes, as upstream defines it.
type EvacuationStrategy struct {
	// AttachedVolumeReattachTimeout is how long evacuation waits for volumes
	// attached on the node to be attached elsewhere, counted from when the
	// node started leaving; 0 skips the wait. After it, a volume still in
	// use there keeps a diskless replica there (its data moved away) until
	// it is detached.
	// +kubebuilder:validation:Optional
	// +kubebuilder:default:="5m"
	AttachedVolumeReattachTimeout metav1.Duration `json:"attachedVolumeReattachTimeout"`
	// UnattachedVolumeAttachTimeout is how long upstream's evacuation waits
	// for volumes not attached anywhere to be attached; 0 skips the wait.
	// Accepted for compatibility, without effect here: a replica leaves the
	// node only once its replacement is UpToDate, so the volume can be
	// attached anywhere at any time during the evacuation.
	// +kubebuilder:validation:Optional
	// +kubebuilder:default:="5m"
	UnattachedVolumeAttachTimeout metav1.Duration `json:"unattachedVolumeAttachTimeout"`
}
