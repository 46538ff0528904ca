package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	piraeusv1 "github.com/piraeusctl/piraeusctl/api/v1"
)

// StorageTopologySpec is the shape of the storage cluster: nodes, pools, node
// connections, resource groups and allocation settings. Volumes are
// StorageVolume objects of their own, so the cluster is not capped by the
// size of one object.
// Every list is sorted by name so the document is byte-for-byte reproducible.
type StorageTopologySpec struct {
	// Allocation holds the ranges DRBD ports and minors are taken from.
	Allocation AllocationSettings `json:"allocation"`

	// Properties set at cluster level (LinstorCluster.spec.properties).
	// +kubebuilder:validation:Optional
	Properties map[string]string `json:"properties,omitempty"`

	// Nodes that run a satellite, with their merged configuration.
	// +kubebuilder:validation:Optional
	// +listType=map
	// +listMapKey=name
	Nodes []TopologyNode `json:"nodes,omitempty"`

	// NodeConnections resolved per node pair from LinstorNodeConnections.
	// +kubebuilder:validation:Optional
	NodeConnections []NodeConnection `json:"nodeConnections,omitempty"`

	// ResourceGroups derived from StorageClasses.
	// +kubebuilder:validation:Optional
	// +listType=map
	// +listMapKey=name
	ResourceGroups []ResourceGroup `json:"resourceGroups,omitempty"`
}

// AllocationSettings are the ranges DRBD resources draw from.
type AllocationSettings struct {
	// PortMin is the first DRBD TCP port (default 7000).
	PortMin int32 `json:"portMin"`
	// PortMax is the last DRBD TCP port (default 7999).
	PortMax int32 `json:"portMax"`
	// MinorMin is the first DRBD minor number (default 1000).
	MinorMin int32 `json:"minorMin"`
	// MinorMax is the last DRBD minor number (default 1048575, DRBD's limit).
	MinorMax int32 `json:"minorMax"`
}

// TopologyNode is one node running a satellite, with the merged
// configuration of every LinstorSatelliteConfiguration that selects it.
type TopologyNode struct {
	// Name of the Kubernetes node; DRBD sees the same name.
	Name string `json:"name"`
	// Labels of the Kubernetes node (placement constraints refer to them).
	// +kubebuilder:validation:Optional
	Labels map[string]string `json:"labels,omitempty"`
	// Properties of the satellite, after valueFrom/expandFrom resolution.
	// +kubebuilder:validation:Optional
	Properties map[string]string `json:"properties,omitempty"`
	// Addresses of the node (from Node.status.addresses).
	// +kubebuilder:validation:Optional
	Addresses []NodeAddress `json:"addresses,omitempty"`
	// StoragePools on the node, sorted by name.
	// +kubebuilder:validation:Optional
	// +listType=map
	// +listMapKey=name
	StoragePools []StoragePool `json:"storagePools,omitempty"`
	// SatelliteConfigurations that select this node, in merge order.
	// +kubebuilder:validation:Optional
	SatelliteConfigurations []string `json:"satelliteConfigurations,omitempty"`
	// InternalTLS of the satellite, when set.
	// +kubebuilder:validation:Optional
	InternalTLS *piraeusv1.TLSConfigWithHandshakeDaemon `json:"internalTLS,omitempty"`
	// IPFamilies the controller uses to reach this satellite.
	// +kubebuilder:validation:Optional
	IPFamilies []piraeusv1.IPFamily `json:"ipFamilies,omitempty"`
	// DeletionPolicy when the satellite leaves the cluster.
	// +kubebuilder:validation:Optional
	DeletionPolicy piraeusv1.DeletionPolicy `json:"deletionPolicy,omitempty"`
	// EvacuationStrategy when the satellite leaves with deletion policy
	// Evacuate (kept so a node whose Node is gone evacuates by it).
	// +kubebuilder:validation:Optional
	EvacuationStrategy *piraeusv1.EvacuationStrategy `json:"evacuationStrategy,omitempty"`
	// StorageCordoned nodes receive no new replicas, and placement moves
	// their replicas to other nodes where it can (keeping them where no other
	// node fits) (node annotation storage.piraeus.io/cordon or an unschedulable node).
	// +kubebuilder:validation:Optional
	StorageCordoned bool `json:"storageCordoned,omitempty"`
	// Leaving is set on a node that left the cluster (its Node was deleted,
	// or the LinstorCluster no longer selects it) and stays in the topology
	// by its deletion policy: while its replicas move away (Evacuate), or
	// registered with its replicas, nothing moved (Retain). Such a node
	// receives no new replicas.
	// +kubebuilder:validation:Optional
	Leaving *NodeLeaving `json:"leaving,omitempty"`
}

// NodeLeaving says why and how a node leaves the topology.
type NodeLeaving struct {
	// Policy is the node's deletion policy when it left: Evacuate or Retain
	// (a node with policy Delete leaves the topology at once).
	Policy piraeusv1.DeletionPolicy `json:"policy"`
	// Reason the node left: NodeDeleted (its Node object is gone) or
	// NotSelected (the LinstorCluster's nodeSelector or nodeAffinity no
	// longer selects it).
	// +kubebuilder:validation:Enum:=NodeDeleted;NotSelected
	Reason string `json:"reason"`
	// Waiting: an evacuation that has not started because
	// LinstorCluster.spec.maxConcurrentEvacuations other nodes evacuate;
	// until it starts, nothing moves.
	// +kubebuilder:validation:Optional
	Waiting bool `json:"waiting,omitempty"`
	// Evacuated: an evacuation found no replica left on the node; the node
	// leaves the topology at the next plan (after the operator reported
	// EvacuationCompleted).
	// +kubebuilder:validation:Optional
	Evacuated bool `json:"evacuated,omitempty"`
	// Since is when the node started leaving: the plan's time ("now") of
	// the first plan that found it gone, carried over by every later plan.
	// The evacuation strategy's timeouts count from it.
	// +kubebuilder:validation:Optional
	Since *metav1.Time `json:"since,omitempty"`
}

// Reasons a node leaves (NodeLeaving.Reason).
const (
	LeavingNodeDeleted = "NodeDeleted"
	LeavingNotSelected = "NotSelected"
)

// NodeAddress is one address of a node.
type NodeAddress struct {
	// Type as in Node.status.addresses (InternalIP, ExternalIP, Hostname).
	Type string `json:"type"`
	// Address value.
	Address string `json:"address"`
}

// StoragePool is one storage pool on one node, with defaults applied.
type StoragePool struct {
	// Name of the pool.
	Name string `json:"name"`
	// ProviderKind: LVM, LVM_THIN, FILE, FILE_THIN, ZFS, ZFS_THIN.
	// +kubebuilder:validation:Enum:=LVM;LVM_THIN;FILE;FILE_THIN;ZFS;ZFS_THIN
	ProviderKind piraeusv1.ProviderKind `json:"providerKind"`
	// VolumeGroup for LVM pools.
	// +kubebuilder:validation:Optional
	VolumeGroup string `json:"volumeGroup,omitempty"`
	// ThinPool LV name for LVM_THIN pools.
	// +kubebuilder:validation:Optional
	ThinPool string `json:"thinPool,omitempty"`
	// Directory for FILE pools.
	// +kubebuilder:validation:Optional
	Directory string `json:"directory,omitempty"`
	// ZPool for ZFS pools.
	// +kubebuilder:validation:Optional
	ZPool string `json:"zPool,omitempty"`
	// HostDevices to build the pool from, when it does not exist.
	// +kubebuilder:validation:Optional
	HostDevices []string `json:"hostDevices,omitempty"`
	// Properties of the pool.
	// +kubebuilder:validation:Optional
	Properties map[string]string `json:"properties,omitempty"`
	// CapacityBytes when known (live status, or the node annotation
	// storage.piraeus.io/capacity.<pool>); absent when unknown.
	// +kubebuilder:validation:Optional
	CapacityBytes *int64 `json:"capacityBytes,omitempty"`
	// SatelliteConfiguration that declared this pool.
	// +kubebuilder:validation:Optional
	SatelliteConfiguration string `json:"satelliteConfiguration,omitempty"`
}

// NodeConnection is the resolved configuration between two nodes.
type NodeConnection struct {
	// NodeA is the lesser node name of the pair.
	NodeA string `json:"nodeA"`
	// NodeB is the greater node name of the pair.
	NodeB string `json:"nodeB"`
	// Properties of the connection (later LinstorNodeConnections win).
	// +kubebuilder:validation:Optional
	Properties map[string]string `json:"properties,omitempty"`
	// Paths DRBD uses between the two nodes.
	// +kubebuilder:validation:Optional
	Paths []piraeusv1.LinstorNodeConnectionPath `json:"paths,omitempty"`
	// Sources are the LinstorNodeConnections that matched the pair.
	Sources []string `json:"sources"`
}

// ResourceGroup is a placement policy, derived from a StorageClass.
type ResourceGroup struct {
	// Name of the group (StorageClass parameter resourceGroup, or the StorageClass name).
	Name string `json:"name"`
	// StorageClasses that use the group.
	StorageClasses []string `json:"storageClasses"`
	// PlaceCount is the number of diskful replicas.
	PlaceCount int32 `json:"placeCount"`
	// StoragePools replicas may use; empty means any.
	// +kubebuilder:validation:Optional
	StoragePools []string `json:"storagePools,omitempty"`
	// ReplicasOnSame: keys (or key=value) whose value all replicas share.
	// +kubebuilder:validation:Optional
	ReplicasOnSame []string `json:"replicasOnSame,omitempty"`
	// ReplicasOnDifferent: keys whose value differs between replicas.
	// +kubebuilder:validation:Optional
	ReplicasOnDifferent []string `json:"replicasOnDifferent,omitempty"`
	// XReplicasOnDifferent: key → X. At most X replicas share a value of
	// the key, and a value takes X replicas before the next value gets one
	// (LINSTOR's --x-replicas-on-different: "X replicas in each different
	// key", e.g. two per data centre).
	// +kubebuilder:validation:Optional
	XReplicasOnDifferent map[string]int32 `json:"xReplicasOnDifferent,omitempty"`
	// DisklessOnRemaining adds a diskless replica on every other node.
	// +kubebuilder:validation:Optional
	DisklessOnRemaining bool `json:"disklessOnRemaining,omitempty"`
	// DisklessStoragePool for diskless replicas.
	// +kubebuilder:validation:Optional
	DisklessStoragePool string `json:"disklessStoragePool,omitempty"`
	// AllowRemoteVolumeAccess as linstor-csi takes it ("true", "false" or a
	// YAML list of fromSame rules).
	// +kubebuilder:validation:Optional
	AllowRemoteVolumeAccess string `json:"allowRemoteVolumeAccess,omitempty"`
	// LayerList, top down (default drbd,storage).
	LayerList []string `json:"layerList"`
	// DrbdOptions for resources of the group (DrbdOptions/... keys without the prefix).
	// +kubebuilder:validation:Optional
	DrbdOptions map[string]string `json:"drbdOptions,omitempty"`
	// Properties set on resources of the group.
	// +kubebuilder:validation:Optional
	Properties map[string]string `json:"properties,omitempty"`
	// FSType of the filesystem CSI creates (default ext4).
	// +kubebuilder:validation:Optional
	FSType string `json:"fsType,omitempty"`
	// FSOpts passed to mkfs.
	// +kubebuilder:validation:Optional
	FSOpts string `json:"fsOpts,omitempty"`
	// MountOpts passed to mount.
	// +kubebuilder:validation:Optional
	MountOpts string `json:"mountOpts,omitempty"`
	// NodeList places diskful replicas on exactly these nodes (linstor-csi
	// nodeList); autoplacement options are then ignored, as upstream does.
	// +kubebuilder:validation:Optional
	NodeList []string `json:"nodeList,omitempty"`
	// ClientList adds diskless replicas on these nodes (linstor-csi clientList).
	// +kubebuilder:validation:Optional
	ClientList []string `json:"clientList,omitempty"`
	// DoNotPlaceWithRegex: no diskful replica on a node that already holds a
	// volume whose name matches this regular expression.
	// +kubebuilder:validation:Optional
	DoNotPlaceWithRegex string `json:"doNotPlaceWithRegex,omitempty"`
	// PlacementPolicy as linstor-csi takes it (AutoPlaceTopology, AutoPlace,
	// FollowTopology, Manual; Balanced is refused); it only matters when CSI
	// creates the volume.
	// +kubebuilder:validation:Optional
	PlacementPolicy string `json:"placementPolicy,omitempty"`
	// UsePVCName: linstor-csi derives volume names from the claim's name.
	// +kubebuilder:validation:Optional
	UsePVCName bool `json:"usePvcName,omitempty"`
	// PostMountXFSOpts: options for xfs_io after mounting an XFS filesystem.
	// +kubebuilder:validation:Optional
	PostMountXFSOpts string `json:"postMountXfsOpts,omitempty"`
	// OverProvision is linstor-csi's capacity over-provisioning factor, kept
	// as the decimal string the StorageClass gives (only capacity reporting uses it).
	// +kubebuilder:validation:Optional
	OverProvision string `json:"overProvision,omitempty"`
}

// StorageTopologyStatus is the observed state of the topology.
type StorageTopologyStatus struct {
	// ObservedGeneration is the generation the controller last converged.
	// +kubebuilder:validation:Optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Converged.
	// +kubebuilder:validation:Optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Nodes as their agents report them, sorted by name.
	// +kubebuilder:validation:Optional
	// +listType=map
	// +listMapKey=name
	Nodes []NodeStatus `json:"nodes,omitempty"`
}

// NodeStatus is one node's agent and pools as observed.
type NodeStatus struct {
	// Name of the node.
	Name string `json:"name"`
	// Connected: the controller holds a status stream from the node's agent.
	// +kubebuilder:validation:Optional
	Connected bool `json:"connected,omitempty"`
	// Pools on the node with capacity and free space, sorted by name.
	// +kubebuilder:validation:Optional
	// +listType=map
	// +listMapKey=name
	Pools []PoolStatus `json:"pools,omitempty"`
	// Orphans: resources on the node that no StorageVolume claims; left
	// alone, listed so that people can decide.
	// +kubebuilder:validation:Optional
	Orphans []string `json:"orphans,omitempty"`
	// Replicas is how many replicas the node holds (deployed).
	// +kubebuilder:validation:Optional
	Replicas int32 `json:"replicas,omitempty"`
	// Errors met by the agent or by the controller driving it.
	// +kubebuilder:validation:Optional
	Errors []string `json:"errors,omitempty"`
}

// PoolStatus is one storage pool as its agent reports it.
type PoolStatus struct {
	Name string `json:"name"`
	// CapacityBytes of the pool.
	// +kubebuilder:validation:Optional
	CapacityBytes int64 `json:"capacityBytes,omitempty"`
	// FreeBytes in the pool.
	// +kubebuilder:validation:Optional
	FreeBytes int64 `json:"freeBytes,omitempty"`
	// Error reading the pool, if any.
	// +kubebuilder:validation:Optional
	Error string `json:"error,omitempty"`
}

// StorageTopology is the storage state the controller converges nodes to.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=stopo
// +kubebuilder:printcolumn:name="Converged",type=string,JSONPath=`.status.conditions[?(@.type=='Converged')].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type StorageTopology struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   StorageTopologySpec   `json:"spec,omitempty"`
	Status StorageTopologyStatus `json:"status,omitempty"`
}

// StorageTopologyList is a list of StorageTopology.
// +kubebuilder:object:root=true
type StorageTopologyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []StorageTopology `json:"items"`
}

func init() { SchemeBuilder.Register(&StorageTopology{}, &StorageTopologyList{}) }

// Node returns the topology's node of that name, nil when there is none (or
// no topology).
func (s *StorageTopologySpec) Node(name string) *TopologyNode {
	if s == nil {
		return nil
	}
	for i := range s.Nodes {
		if s.Nodes[i].Name == name {
			return &s.Nodes[i]
		}
	}
	return nil
}
