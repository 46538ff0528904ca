package plan

import (
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	piraeusv1 "github.com/piraeusctl/piraeusctl/api/v1"
)

// inputs are the decoded objects of every source, each with its document.
type inputs struct {
	clusters        []located[piraeusv1.LinstorCluster]
	satelliteCfgs   []located[piraeusv1.LinstorSatelliteConfiguration]
	nodeConns       []located[piraeusv1.LinstorNodeConnection]
	topologies      []located[storagev1alpha1.StorageTopology]
	storageVolumes  []located[storagev1alpha1.StorageVolume]
	nodeAllocations []located[storagev1alpha1.NodeAllocation]
	nodes           []located[corev1.Node]
	storageClasses  []located[storagev1.StorageClass]
	snapshotClasses []located[VolumeSnapshotClass]
	claims          []located[corev1.PersistentVolumeClaim]
	volumes         []located[corev1.PersistentVolume]
	pods            []located[corev1.Pod]
	passthrough     []*document
	// warnings about objects that do not stop the plan (Model.Warnings).
	warnings ErrorList
}

// located is a decoded object with the document it came from.
type located[T any] struct {
	obj T
	doc *document
}

// objectKey identifies an object for duplicate detection.
type objectKey struct {
	gk        schema.GroupKind
	namespace string
	name      string
}

// Group-kinds the loader understands.
var (
	gkLinstorCluster   = schema.GroupKind{Group: "piraeus.io", Kind: "LinstorCluster"}
	gkSatelliteConfig  = schema.GroupKind{Group: "piraeus.io", Kind: "LinstorSatelliteConfiguration"}
	gkNodeConnection   = schema.GroupKind{Group: "piraeus.io", Kind: "LinstorNodeConnection"}
	gkStorageTopology  = schema.GroupKind{Group: "storage.piraeus.io", Kind: "StorageTopology"}
	gkStorageVolume    = schema.GroupKind{Group: "storage.piraeus.io", Kind: "StorageVolume"}
	gkNodeAllocation   = schema.GroupKind{Group: "storage.piraeus.io", Kind: "NodeAllocation"}
	gkNode             = schema.GroupKind{Kind: "Node"}
	gkStorageClass     = schema.GroupKind{Group: "storage.k8s.io", Kind: "StorageClass"}
	gkSnapshotClass    = schema.GroupKind{Group: "snapshot.storage.k8s.io", Kind: "VolumeSnapshotClass"}
	gkClaim            = schema.GroupKind{Kind: "PersistentVolumeClaim"}
	gkPersistentVolume = schema.GroupKind{Kind: "PersistentVolume"}
	gkPod              = schema.GroupKind{Kind: "Pod"}
)

// builtinVersions are the API versions accepted for built-in kinds.
func builtinVersion(gk schema.GroupKind) string {
	switch gk {
	case gkNode, gkClaim, gkPersistentVolume, gkPod:
		return "v1"
	case gkStorageClass, gkSnapshotClass:
		return "v1"
	}
	return ""
}

// sortInputs orders every list by namespace and name, so the model does not
// depend on file or document order.
func (in *inputs) sortInputs() {
	sortLocated(in.clusters, func(o *piraeusv1.LinstorCluster) string { return o.Name })
	sortLocated(in.satelliteCfgs, func(o *piraeusv1.LinstorSatelliteConfiguration) string { return o.Name })
	sortLocated(in.nodeConns, func(o *piraeusv1.LinstorNodeConnection) string { return o.Name })
	sortLocated(in.topologies, func(o *storagev1alpha1.StorageTopology) string { return o.Name })
	sortLocated(in.storageVolumes, func(o *storagev1alpha1.StorageVolume) string { return o.Name })
	sortLocated(in.nodeAllocations, func(o *storagev1alpha1.NodeAllocation) string { return o.Name })
	sortLocated(in.nodes, func(o *corev1.Node) string { return o.Name })
	sortLocated(in.storageClasses, func(o *storagev1.StorageClass) string { return o.Name })
	sortLocated(in.snapshotClasses, func(o *VolumeSnapshotClass) string { return o.Name })
	sortLocated(in.claims, func(o *corev1.PersistentVolumeClaim) string { return o.Namespace + "/" + o.Name })
	sortLocated(in.volumes, func(o *corev1.PersistentVolume) string { return o.Name })
	sortLocated(in.pods, func(o *corev1.Pod) string { return o.Namespace + "/" + o.Name })
	sort.SliceStable(in.passthrough, func(i, j int) bool {
		return passthroughKey(in.passthrough[i]) < passthroughKey(in.passthrough[j])
	})
}

func sortLocated[T any](list []located[T], key func(*T) string) {
	sort.SliceStable(list, func(i, j int) bool { return key(&list[i].obj) < key(&list[j].obj) })
}

func passthroughKey(d *document) string {
	md, _ := d.obj["metadata"].(map[string]any)
	return fmt.Sprintf("%v/%v/%v/%v", d.obj["apiVersion"], d.obj["kind"], md["namespace"], md["name"])
}
