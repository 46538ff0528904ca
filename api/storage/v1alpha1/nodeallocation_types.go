package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NodeAllocationSpec is the ledger of DRBD numbers in use on one node. It is
// an index of the allocations recorded in StorageVolumes, kept so that
// numbers are handed out with optimistic concurrency on one small object per
// node: two controllers (or a controller and a plan applied by GitOps) can
// never give one port or minor of a node to two volumes, and a volume's
// allocation survives restarts. The controller writes it; people only read it.
type NodeAllocationSpec struct {
	// Ports in use on the node, sorted by number.
	// +kubebuilder:validation:Optional
	Ports []AllocationEntry `json:"ports,omitempty"`
	// Minors in use on the node, sorted by number.
	// +kubebuilder:validation:Optional
	Minors []AllocationEntry `json:"minors,omitempty"`
}

// AllocationEntry is one number and the volume holding it.
type AllocationEntry struct {
	// Number is the port or minor.
	Number int32 `json:"number"`
	// Volume is the StorageVolume name holding the number.
	Volume string `json:"volume"`
	// UID of that StorageVolume: a re-created volume of the same name does
	// not inherit the number.
	// +kubebuilder:validation:Optional
	UID string `json:"uid,omitempty"`
	// Since is when the number was reserved; a reservation whose volume never
	// recorded it is released only after a grace period.
	// +kubebuilder:validation:Optional
	Since *metav1.Time `json:"since,omitempty"`
}

// NodeAllocation is the DRBD port and minor ledger of one node (its name is
// the node name).
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=nalloc
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type NodeAllocation struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec NodeAllocationSpec `json:"spec,omitempty"`
}

// NodeAllocationList is a list of NodeAllocation.
// +kubebuilder:object:root=true
type NodeAllocationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NodeAllocation `json:"items"`
}

func init() { SchemeBuilder.Register(&NodeAllocation{}, &NodeAllocationList{}) }
