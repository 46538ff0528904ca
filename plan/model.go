package plan

import (
	"encoding/json"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	piraeusv1 "github.com/piraeusctl/piraeusctl/api/v1"
)

// CSIProvisioner is the provisioner name of StorageClasses this datastore serves.
const CSIProvisioner = "linstor.csi.linbit.com"

// DefaultNamespace is where the datastore's namespaced objects live.
const DefaultNamespace = "piraeus-datastore"

// TopologyName is the name of the one StorageTopology object.
const TopologyName = "default"

// Model is everything the plan derives from the spec: the validated inputs,
// per-node satellite settings and the storage topology. Every slice is sorted
// by name, so equal inputs give equal models whatever their order.
type Model struct {
	// Namespace for the namespaced objects.
	Namespace string
	// Cluster is the LinstorCluster; a default one when the input has none.
	Cluster piraeusv1.LinstorCluster
	// SatelliteConfigurations from the input, sorted by name.
	SatelliteConfigurations []piraeusv1.LinstorSatelliteConfiguration
	// NodeConnections from the input, sorted by name.
	NodeConnections []piraeusv1.LinstorNodeConnection
	// Nodes from the input (all of them, with or without a satellite), sorted by name.
	Nodes []corev1.Node
	// StorageClasses served by this datastore (provisioner linstor.csi.linbit.com), sorted by name.
	StorageClasses []storagev1.StorageClass
	// VolumeSnapshotClasses of this datastore's driver (linstor.csi.linbit.com), sorted by name.
	VolumeSnapshotClasses []VolumeSnapshotClass
	// Satellites: one per node selected by the LinstorCluster, sorted by node name.
	Satellites []Satellite
	// Topology is the storage state derived from the inputs.
	Topology storagev1alpha1.StorageTopology
	// Previous is the StorageTopology given as input (the last plan's), whose
	// allocation settings and API-made resource groups the plan keeps; nil when none.
	Previous *storagev1alpha1.StorageTopologySpec
	// Volumes: one StorageVolume per volume, sorted by name. Load derives them
	// from the claims and PersistentVolumes; Build adds every previous volume
	// and places them all.
	Volumes []storagev1alpha1.StorageVolume
	// PreviousVolumes are the StorageVolumes given as input (the last plan's,
	// or the cluster's): their placements and allocations are kept, and none
	// of them is dropped from the plan.
	PreviousVolumes []storagev1alpha1.StorageVolume
	// Allocations are the controller's per-node ledgers given as input
	// (plan --from-cluster reads them): new replicas get numbers they do
	// not hold.
	Allocations []storagev1alpha1.NodeAllocation
	// Pods from the input (for what-if reports), sorted by namespace and name.
	Pods []corev1.Pod
	// Warnings about the input that do not stop the plan (a patch target or
	// selector that matches nothing, a skipped file, ...), sorted like errors.
	// The CLI prints them on stderr; --strict turns them into errors.
	Warnings ErrorList
	// Passthrough objects (other kinds the user allowed), in input order
	// sorted by kind, namespace and name. Each is a decoded JSON object.
	Passthrough []map[string]any
	// Leaving are the nodes that left the cluster since the previous
	// topology (their Node deleted, or no longer selected by the
	// LinstorCluster), with what their deletion policy does; sorted by node.
	Leaving []LeavingNode
	// positions of input fields, for Position.
	positions map[string]Position
	// satelliteCfgs are the configurations as loaded, for the satellite of
	// a node that leaves while its Node exists.
	satelliteCfgs []located[piraeusv1.LinstorSatelliteConfiguration]
	// forceRemove names the nodes of the previous StorageTopology's
	// ForceRemoveNodesAnnotation: gone for good, whatever their policy.
	forceRemove map[string]bool
}

// Satellite is what renders one node's satellite workload.
type Satellite struct {
	// Node name.
	Node string
	// Configurations selecting the node, in merge order (by name).
	Configurations []string
	// PodTemplates to merge into the satellite Pod template, in merge order.
	PodTemplates []json.RawMessage
	// Patches to apply to this node's satellite objects, in merge order.
	Patches []piraeusv1.Patch
	// InternalTLS of the satellite, when set.
	InternalTLS *piraeusv1.TLSConfigWithHandshakeDaemon
	// StoragePools and Properties as merged from the configurations (the
	// LinstorSatellite's spec shows them).
	StoragePools []piraeusv1.LinstorStoragePool
	Properties   []piraeusv1.LinstorNodeProperty
	// IPFamilies and DeletionPolicy as merged, when set.
	IPFamilies     []piraeusv1.IPFamily
	DeletionPolicy piraeusv1.DeletionPolicy
	// EvacuationStrategy as merged, when set.
	EvacuationStrategy *piraeusv1.EvacuationStrategy
}
