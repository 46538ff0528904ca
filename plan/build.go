package plan

import (
	"encoding/json"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	piraeusv1 "github.com/piraeusctl/piraeusctl/api/v1"
)

// DefaultClusterName names the LinstorCluster assumed when the input has none.
const DefaultClusterName = "linstorcluster"

// buildModel checks the semantic rules and derives the Model from sorted inputs.
func buildModel(in *inputs, namespace string) (*Model, ErrorList) {
	cluster := theCluster(in)
	m := &Model{
		Namespace:       namespace,
		Cluster:         cluster.obj,
		Nodes:           unwrap(in.nodes),
		NodeConnections: unwrap(in.nodeConns),
	}
	m.SatelliteConfigurations = unwrap(in.satelliteCfgs)
	m.positions = patchPositions(in)
	m.Pods = unwrap(in.pods)
	m.satelliteCfgs = in.satelliteCfgs
	if len(in.topologies) > 0 {
		m.Previous = &in.topologies[0].obj.Spec
		m.forceRemove = forcedNodes(in.topologies[0].obj.Annotations)
	}
	m.PreviousVolumes = unwrap(in.storageVolumes)
	m.Allocations = unwrap(in.nodeAllocations)
	for _, sc := range in.storageClasses {
		if sc.obj.Provisioner == CSIProvisioner {
			m.StorageClasses = append(m.StorageClasses, sc.obj)
		}
	}
	for _, c := range in.snapshotClasses {
		if c.obj.Driver == CSIProvisioner {
			m.VolumeSnapshotClasses = append(m.VolumeSnapshotClasses, c.obj)
		}
	}
	for _, d := range in.passthrough {
		m.Passthrough = append(m.Passthrough, d.obj)
	}
	satNodes, errs := selectSatelliteNodes(cluster, in.nodes)
	if len(errs) > 0 {
		return nil, errs
	}
	merged, errs := mergeSatellites(satNodes, in.satelliteCfgs)
	if len(errs) > 0 {
		return nil, errs
	}
	m.Topology = newTopology(&m.Cluster)
	for _, s := range merged {
		m.Satellites = append(m.Satellites, satelliteOf(s))
		m.Topology.Spec.Nodes = append(m.Topology.Spec.Nodes, topologyNode(s))
	}
	m.Topology.Spec.NodeConnections = resolveNodeConnections(satNodes, in.nodeConns)
	if errs := applyPoolCapacities(&m.Topology, in.nodes); len(errs) > 0 {
		return nil, errs
	}
	if errs := addVolumes(m, in); len(errs) > 0 {
		return nil, errs
	}
	m.Warnings = append(m.Warnings, unmatchedWarnings(in, m, satNodes)...)
	return m, nil
}

// addVolumes derives resource groups from the StorageClasses and volumes
// from the claims and persistent volumes.
func addVolumes(m *Model, in *inputs) ErrorList {
	groups, scErrs, scWarnings := resourceGroupsFromStorageClasses(m.StorageClasses)
	var errs ErrorList
	for _, sc := range in.storageClasses {
		errs = append(errs, sc.doc.fieldErrors(scErrs[sc.obj.Name], "StorageClass/"+sc.obj.Name)...)
		m.Warnings = append(m.Warnings, sc.doc.warnings(scWarnings[sc.obj.Name], "StorageClass/"+sc.obj.Name)...)
	}
	classes := map[string]*storagev1.StorageClass{}
	for i := range in.storageClasses {
		classes[in.storageClasses[i].obj.Name] = &in.storageClasses[i].obj
	}
	vols, vErrs := volumesFromClaims(unwrap(in.claims), unwrap(in.volumes), classes, groups)
	for _, c := range in.claims {
		key := "PersistentVolumeClaim/" + c.obj.Namespace + "/" + c.obj.Name
		errs = append(errs, c.doc.fieldErrors(vErrs[key], key)...)
	}
	for _, v := range in.volumes {
		key := "PersistentVolume/" + v.obj.Name
		errs = append(errs, v.doc.fieldErrors(vErrs[key], key)...)
	}
	m.Topology.Spec.ResourceGroups = groups
	m.Volumes = vols
	return errs
}

// applyPoolCapacities fills known pool capacities from node annotations.
func applyPoolCapacities(t *storagev1alpha1.StorageTopology, nodes []located[corev1.Node]) ErrorList {
	byName := map[string]*located[corev1.Node]{}
	for i := range nodes {
		byName[nodes[i].obj.Name] = &nodes[i]
	}
	var errs ErrorList
	for i := range t.Spec.Nodes {
		tn := &t.Spec.Nodes[i]
		n := byName[tn.Name]
		caps, ferrs := ParsePoolCapacityAnnotations(&n.obj)
		errs = append(errs, n.doc.fieldErrors(ferrs, "Node/"+tn.Name)...)
		for j := range tn.StoragePools {
			if c, ok := caps[tn.StoragePools[j].Name]; ok {
				tn.StoragePools[j].CapacityBytes = &c
			}
		}
	}
	return errs
}

// validateInputs applies the per-object semantic rules.
func validateInputs(in *inputs) ErrorList {
	var errs ErrorList
	for i := 1; i < len(in.clusters); i++ {
		c := in.clusters[i]
		errs = append(errs, c.doc.errorAt("metadata.name", "LinstorCluster/"+c.obj.Name,
			"expected at most one LinstorCluster; also found LinstorCluster/"+in.clusters[0].obj.Name+" at "+in.clusters[0].doc.at.String()))
	}
	for _, c := range in.clusters {
		errs = append(errs, c.doc.fieldErrors(validateCluster(&c.obj), "LinstorCluster/"+c.obj.Name)...)
	}
	for _, c := range in.satelliteCfgs {
		errs = append(errs, c.doc.fieldErrors(validateSatelliteConfiguration(&c.obj), "LinstorSatelliteConfiguration/"+c.obj.Name)...)
	}
	for _, c := range in.nodeConns {
		errs = append(errs, c.doc.fieldErrors(validateNodeConnection(&c.obj), "LinstorNodeConnection/"+c.obj.Name)...)
	}
	for _, c := range in.snapshotClasses {
		cerrs, warnings := validateVolumeSnapshotClass(&c.obj)
		errs = append(errs, c.doc.fieldErrors(cerrs, "VolumeSnapshotClass/"+c.obj.Name)...)
		in.warnings = append(in.warnings, c.doc.warnings(warnings, "VolumeSnapshotClass/"+c.obj.Name)...)
	}
	for i := 1; i < len(in.topologies); i++ {
		t := in.topologies[i]
		errs = append(errs, t.doc.errorAt("metadata.name", "StorageTopology/"+t.obj.Name, "expected at most one previous StorageTopology"))
	}
	for _, t := range in.topologies {
		errs = append(errs, t.doc.fieldErrors(ValidatePreviousTopology(&t.obj.Spec), "StorageTopology/"+t.obj.Name)...)
	}
	var prev *storagev1alpha1.StorageTopologySpec
	if len(in.topologies) > 0 {
		prev = &in.topologies[0].obj.Spec
	}
	for _, v := range in.storageVolumes {
		errs = append(errs, v.doc.fieldErrors(validatePreviousVolume(prev, &v.obj), "StorageVolume/"+v.obj.Name)...)
	}
	return errs
}

// theCluster returns the input's LinstorCluster or the default one.
func theCluster(in *inputs) located[piraeusv1.LinstorCluster] {
	if len(in.clusters) > 0 {
		return in.clusters[0]
	}
	c := piraeusv1.LinstorCluster{
		TypeMeta:   metav1.TypeMeta{APIVersion: piraeusv1.GroupVersion.String(), Kind: "LinstorCluster"},
		ObjectMeta: metav1.ObjectMeta{Name: DefaultClusterName},
	}
	return located[piraeusv1.LinstorCluster]{obj: c}
}

func mergeSatellites(nodes []*corev1.Node, cfgs []located[piraeusv1.LinstorSatelliteConfiguration]) ([]*mergedSatellite, ErrorList) {
	matchers := make([]*nodeMatcher, len(cfgs))
	for i, c := range cfgs {
		matchers[i] = newNodeMatcher(c.obj.Spec.NodeSelector, c.obj.Spec.NodeAffinity)
	}
	var out []*mergedSatellite
	var errs ErrorList
	for _, n := range nodes {
		s, e := mergeSatellite(n, cfgs, matchers)
		errs = append(errs, e...)
		out = append(out, s)
	}
	return out, errs
}

func satelliteOf(s *mergedSatellite) Satellite {
	sat := Satellite{Node: s.node.Name, Configurations: s.configs, InternalTLS: s.internalTLS,
		StoragePools: s.pools, Properties: s.properties, IPFamilies: s.ipFamilies, DeletionPolicy: s.deletion,
		EvacuationStrategy: s.evacuation}
	for _, c := range s.templates {
		if len(c.obj.Spec.PodTemplate) > 0 {
			sat.PodTemplates = append(sat.PodTemplates, json.RawMessage(c.obj.Spec.PodTemplate))
		}
		sat.Patches = append(sat.Patches, c.obj.Spec.Patches...)
	}
	return sat
}

func newTopology(c *piraeusv1.LinstorCluster) storagev1alpha1.StorageTopology {
	return storagev1alpha1.StorageTopology{
		TypeMeta:   metav1.TypeMeta{APIVersion: storagev1alpha1.GroupVersion.String(), Kind: "StorageTopology"},
		ObjectMeta: metav1.ObjectMeta{Name: TopologyName},
		Spec: storagev1alpha1.StorageTopologySpec{
			Allocation: defaultAllocation(),
			Properties: controllerProperties(c),
		},
	}
}

func unwrap[T any](list []located[T]) []T {
	if len(list) == 0 {
		return nil
	}
	out := make([]T, len(list))
	for i := range list {
		out[i] = list[i].obj
	}
	return out
}
