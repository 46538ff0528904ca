package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// StorageSnapshotFinalizer keeps a StorageSnapshot until the controller has
// removed its snapshot from every node.
const StorageSnapshotFinalizer = "storage.piraeus.io/snapshot"

// StorageSnapshotSpec is the intent for one snapshot of a volume (LINSTOR's
// snapshot definition with its snapshots on nodes).
type StorageSnapshotSpec struct {
	// Volume is the StorageVolume the snapshot is taken of.
	Volume string `json:"volume"`
	// VolumeUID is that StorageVolume's uid, so that a snapshot never
	// attaches to a re-created volume of the same name.
	// +kubebuilder:validation:Optional
	VolumeUID string `json:"volumeUID,omitempty"`
	// SnapshotName is LINSTOR's snapshot name within the resource definition.
	SnapshotName string `json:"snapshotName"`
	// Nodes to take the snapshot on; empty means every diskful replica.
	// +kubebuilder:validation:Optional
	Nodes []string `json:"nodes,omitempty"`
	// Volumes of the snapshot, as the volume definitions were when it was
	// taken (sizes are what a restore creates).
	// +kubebuilder:validation:Optional
	// +listType=map
	// +listMapKey=number
	Volumes []VolumeDefinition `json:"volumes,omitempty"`
	// Properties of the snapshot definition.
	// +kubebuilder:validation:Optional
	Properties map[string]string `json:"properties,omitempty"`
}

// StorageSnapshotStatus is what the agents report about the snapshot.
type StorageSnapshotStatus struct {
	// ObservedGeneration is the spec generation the controller last acted on.
	// +kubebuilder:validation:Optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready (taken on every node it should be on).
	// +kubebuilder:validation:Optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// ReadyToUse: the snapshot exists on every node it was asked for.
	// +kubebuilder:validation:Optional
	ReadyToUse bool `json:"readyToUse,omitempty"`
	// CreationTime is when the snapshot was taken (the first node's).
	// +kubebuilder:validation:Optional
	CreationTime *metav1.Time `json:"creationTime,omitempty"`
	// Nodes where the snapshot is, with their errors, sorted by node.
	// +kubebuilder:validation:Optional
	// +listType=map
	// +listMapKey=node
	Nodes []SnapshotNodeStatus `json:"nodes,omitempty"`
}

// SnapshotNodeStatus is the snapshot on one node.
type SnapshotNodeStatus struct {
	Node string `json:"node"`
	// Taken: the snapshot exists on this node.
	// +kubebuilder:validation:Optional
	Taken bool `json:"taken,omitempty"`
	// LastError of taking or deleting it.
	// +kubebuilder:validation:Optional
	LastError string `json:"lastError,omitempty"`
}

// StorageSnapshot is one snapshot of a StorageVolume. Its name is
// <volume>.<snapshotName> (LINSTOR names cannot hold a dot, so the split is
// unambiguous).
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=ssnap
// +kubebuilder:printcolumn:name="Volume",type=string,JSONPath=`.spec.volume`
// +kubebuilder:printcolumn:name="Snapshot",type=string,JSONPath=`.spec.snapshotName`
// +kubebuilder:printcolumn:name="ReadyToUse",type=boolean,JSONPath=`.status.readyToUse`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type StorageSnapshot struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   StorageSnapshotSpec   `json:"spec,omitempty"`
	Status StorageSnapshotStatus `json:"status,omitempty"`
}

// StorageSnapshotList is a list of StorageSnapshot.
// +kubebuilder:object:root=true
type StorageSnapshotList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []StorageSnapshot `json:"items"`
}

func init() { SchemeBuilder.Register(&StorageSnapshot{}, &StorageSnapshotList{}) }

// SnapshotObjectName is the StorageSnapshot name of a volume's snapshot.
func SnapshotObjectName(volume, snapshot string) string { return volume + "." + snapshot }
