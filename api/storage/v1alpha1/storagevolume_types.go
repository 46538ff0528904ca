package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// StorageVolumeFinalizer keeps a StorageVolume until the controller has
// removed its storage from every node (DeleteResource by name and uid).
const StorageVolumeFinalizer = "storage.piraeus.io/storage"

// Condition types of StorageVolume and StorageSnapshot status.
const (
	// ConditionReady: every replica is deployed; diskful replicas are UpToDate
	// and the device path is known on each node.
	ConditionReady = "Ready"
	// ConditionDegraded: the volume is deployed but some replica is missing,
	// not UpToDate, failed or disconnected.
	ConditionDegraded = "Degraded"
	// ConditionPlaced: the volume has its replicas and allocations (ports,
	// minors, node ids), registered without conflict.
	ConditionPlaced = "Placed"
)

// StorageVolumeSpec is the intent for one volume set: LINSTOR's resource
// definition with its volume definitions, and its placement and DRBD
// allocations once made. Placement and allocations are state: they never
// change while a replica holds data, except through an explicit move.
type StorageVolumeSpec struct {
	// ResourceGroup the volume belongs to (a StorageTopology resource group).
	ResourceGroup string `json:"resourceGroup"`

	// Volumes are the volume definitions (LINSTOR: vlmDfn), sorted by number.
	// A resource definition may exist without any yet.
	// +kubebuilder:validation:Optional
	// +kubebuilder:validation:MaxItems=64
	// +listType=map
	// +listMapKey=number
	Volumes []VolumeDefinition `json:"volumes,omitempty"`

	// Claim that asked for the volume, when known.
	// +kubebuilder:validation:Optional
	Claim *ClaimReference `json:"claim,omitempty"`

	// PersistentVolume bound to the volume, when known.
	// +kubebuilder:validation:Optional
	PersistentVolume string `json:"persistentVolume,omitempty"`

	// Properties of the resource definition (LINSTOR props: Aux/*,
	// DrbdOptions/*, FileSystem/*, ...). They override the resource group's.
	// +kubebuilder:validation:Optional
	Properties map[string]string `json:"properties,omitempty"`

	// LayerList overrides the resource group's layer stack, top down
	// (drbd,storage or storage).
	// +kubebuilder:validation:Optional
	LayerList []string `json:"layerList,omitempty"`

	// ManualPlacement: replicas are chosen by a LINSTOR API client (resource
	// create, autoplace), as for a LINSTOR resource definition; the
	// controller does not place this volume by itself.
	// +kubebuilder:validation:Optional
	ManualPlacement bool `json:"manualPlacement,omitempty"`

	// Replicas of the volume, sorted by node name. Empty until placed: the
	// controller places a volume without replicas with the same code as
	// `piraeusctl plan` (unless manualPlacement). At most 32: DRBD's node ids.
	// +kubebuilder:validation:Optional
	// +kubebuilder:validation:MaxItems=32
	// +listType=map
	// +listMapKey=node
	Replicas []Replica `json:"replicas,omitempty"`

	// Source the data is copied from when the volume is created (restore from
	// a snapshot, clone of a volume).
	// +kubebuilder:validation:Optional
	Source *VolumeSource `json:"source,omitempty"`
}

// VolumeDefinition is one volume of a resource definition.
type VolumeDefinition struct {
	// Number of the volume within the resource (DRBD volume number).
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=65534
	Number int32 `json:"number"`
	// SizeBytes is the usable size (DRBD device or backing device without DRBD).
	// +kubebuilder:validation:Minimum=1
	SizeBytes int64 `json:"sizeBytes"`
	// Properties of the volume definition.
	// +kubebuilder:validation:Optional
	Properties map[string]string `json:"properties,omitempty"`
}

// VolumeSource names where a new volume's data comes from.
type VolumeSource struct {
	// Snapshot is a StorageSnapshot name to restore from.
	// +kubebuilder:validation:Optional
	Snapshot string `json:"snapshot,omitempty"`
	// Volume is a StorageVolume name to clone.
	// +kubebuilder:validation:Optional
	Volume string `json:"volume,omitempty"`
}

// StorageVolumeStatus is what the agents report about the volume.
type StorageVolumeStatus struct {
	// ObservedGeneration is the spec generation the controller last acted on.
	// +kubebuilder:validation:Optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Placed, Ready, Degraded.
	// +kubebuilder:validation:Optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Replicas as observed on their nodes, sorted by node name.
	// +kubebuilder:validation:Optional
	// +listType=map
	// +listMapKey=node
	Replicas []ReplicaStatus `json:"replicas,omitempty"`
}

// ReplicaStatus is one replica as its node reports it.
type ReplicaStatus struct {
	// Node of the replica.
	Node string `json:"node"`
	// Deployed: the node holds this replica (backing volumes created, DRBD up).
	// +kubebuilder:validation:Optional
	Deployed bool `json:"deployed,omitempty"`
	// Role: Primary or Secondary; empty without DRBD or when down.
	// +kubebuilder:validation:Optional
	Role string `json:"role,omitempty"`
	// InUse: the device is open (DRBD Primary) on this node.
	// +kubebuilder:validation:Optional
	InUse bool `json:"inUse,omitempty"`
	// Quorum: DRBD has quorum on this node (true without a quorum policy).
	// +kubebuilder:validation:Optional
	Quorum bool `json:"quorum,omitempty"`
	// Volumes of the replica, by volume number.
	// +kubebuilder:validation:Optional
	Volumes []ReplicaVolumeStatus `json:"volumes,omitempty"`
	// Connections to the other replicas, by peer node name.
	// +kubebuilder:validation:Optional
	Connections []ConnectionStatus `json:"connections,omitempty"`
	// LastError is the last failure to converge this replica, empty when it converged.
	// +kubebuilder:validation:Optional
	LastError string `json:"lastError,omitempty"`
}

// ReplicaVolumeStatus is one volume of a replica.
type ReplicaVolumeStatus struct {
	Number int32 `json:"number"`
	// DevicePath for consumers: /dev/drbd<minor>, or the backing device without DRBD.
	// +kubebuilder:validation:Optional
	DevicePath string `json:"devicePath,omitempty"`
	// DiskState: UpToDate, Inconsistent, Outdated, Diskless, ...
	// +kubebuilder:validation:Optional
	DiskState string `json:"diskState,omitempty"`
	// AllocatedBytes of the backing volume (0 when diskless).
	// +kubebuilder:validation:Optional
	AllocatedBytes int64 `json:"allocatedBytes,omitempty"`
}

// ConnectionStatus is this replica's DRBD connection to one peer.
type ConnectionStatus struct {
	// Peer node name.
	Peer string `json:"peer"`
	// State: Connected, Connecting, StandAlone, ...
	// +kubebuilder:validation:Optional
	State string `json:"state,omitempty"`
	// ReplicationStates per volume: Established, SyncSource, SyncTarget, ...
	// (one entry per volume, in volume order).
	// +kubebuilder:validation:Optional
	ReplicationStates []string `json:"replicationStates,omitempty"`
	// PeerDiskStates per volume, as this node sees the peer.
	// +kubebuilder:validation:Optional
	PeerDiskStates []string `json:"peerDiskStates,omitempty"`
}

// StorageVolume is one replicated volume set: a LINSTOR resource definition
// with its volume definitions, replicas and DRBD allocations (spec), and what
// the agents report (status). Its name is the resource name (pvc-<uid> for
// linstor-csi volumes). The finalizer storage.piraeus.io/storage keeps it
// until the controller removed its storage from every node.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=svol
// +kubebuilder:printcolumn:name="Group",type=string,JSONPath=`.spec.resourceGroup`
// +kubebuilder:printcolumn:name="Size",type=integer,JSONPath=`.spec.volumes[0].sizeBytes`
// +kubebuilder:printcolumn:name="Nodes",type=string,JSONPath=`.spec.replicas[*].node`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=='Ready')].status`
// +kubebuilder:printcolumn:name="Degraded",type=string,JSONPath=`.status.conditions[?(@.type=='Degraded')].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type StorageVolume struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   StorageVolumeSpec   `json:"spec,omitempty"`
	Status StorageVolumeStatus `json:"status,omitempty"`
}

// StorageVolumeList is a list of StorageVolume.
// +kubebuilder:object:root=true
type StorageVolumeList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []StorageVolume `json:"items"`
}

func init() { SchemeBuilder.Register(&StorageVolume{}, &StorageVolumeList{}) }

// SizeBytes is the sum of the volume definitions' sizes: what the volume takes
// in a pool, before DRBD metadata.
func (s StorageVolumeSpec) SizeBytes() int64 {
	var n int64
	for _, v := range s.Volumes {
		n += v.SizeBytes
	}
	return n
}

// Replica returns the spec's replica on node, nil when there is none.
func (s *StorageVolumeSpec) Replica(node string) *Replica {
	for i := range s.Replicas {
		if s.Replicas[i].Node == node {
			return &s.Replicas[i]
		}
	}
	return nil
}

// Replica returns the status's replica on node, nil when there is none.
func (s *StorageVolumeStatus) Replica(node string) *ReplicaStatus {
	if s == nil {
		return nil
	}
	for i := range s.Replicas {
		if s.Replicas[i].Node == node {
			return &s.Replicas[i]
		}
	}
	return nil
}

// ClaimReference names the PersistentVolumeClaim behind a volume.
type ClaimReference struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// +kubebuilder:validation:Optional
	UID string `json:"uid,omitempty"`
}

// Replica is one copy (or diskless attachment) of a volume on a node. Its
// DRBD node id, port and minors are live state on disks: once allocated
// they never change (the API server refuses it).
// +kubebuilder:validation:XValidation:rule="self.nodeId == oldSelf.nodeId",message="the DRBD node id of a replica cannot change: its peers and metadata know it by that id"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.port) || (has(self.port) && self.port == oldSelf.port)",message="the DRBD port of a replica cannot change once allocated: its peers connect to it"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.minors) || (has(self.minors) && oldSelf.minors.all(m, m in self.minors))",message="the DRBD minors of a replica cannot change once allocated: /dev/drbd<minor> is in use on its node"
type Replica struct {
	// Node holding the replica.
	Node string `json:"node"`
	// StoragePool holding the data ("" for diskless).
	// +kubebuilder:validation:Optional
	StoragePool string `json:"storagePool,omitempty"`
	// Diskless replicas hold no data.
	// +kubebuilder:validation:Optional
	Diskless bool `json:"diskless,omitempty"`
	// TieBreaker marks a diskless replica added for quorum.
	// +kubebuilder:validation:Optional
	TieBreaker bool `json:"tieBreaker,omitempty"`
	// NodeID is the DRBD node id (0-31) within the volume.
	NodeID int32 `json:"nodeId"`
	// Port is the DRBD TCP port this replica listens on; unique on its node
	// (0 until allocated, and without the DRBD layer).
	// +kubebuilder:validation:Optional
	Port int32 `json:"port,omitempty"`
	// Minors are the DRBD minor numbers of the volumes on this node, one per
	// volume definition in spec.volumes order; unique on the node (empty until
	// allocated, and without the DRBD layer).
	// +kubebuilder:validation:Optional
	// +kubebuilder:validation:MaxItems=64
	Minors []int32 `json:"minors,omitempty"`
	// Reason says why the replica is here (shown by plan --explain).
	// +kubebuilder:validation:Optional
	Reason string `json:"reason,omitempty"`
}
