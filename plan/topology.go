package plan

import (
	"sort"

	corev1 "k8s.io/api/core/v1"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	piraeusv1 "github.com/piraeusctl/piraeusctl/api/v1"
)

// Default DRBD allocation ranges, as LINSTOR uses them.
const (
	DefaultPortMin  = 7000
	DefaultPortMax  = 7999
	DefaultMinorMin = 1000
	DefaultMinorMax = 1048575
)

// AnnotationStorageCordon on a Node keeps its replicas but places no new ones there.
const AnnotationStorageCordon = "storage.piraeus.io/cordon"

// topologyLabels are the node labels mirrored into Aux/topology/ properties,
// the keys linstor-csi reports as CSI topology and placement refers to.
var topologyLabels = []string{
	"kubernetes.io/hostname",
	"topology.kubernetes.io/region",
	"topology.kubernetes.io/zone",
}

// defaultNodeProperties are what every satellite gets before the
// LinstorSatelliteConfiguration properties (which may override them).
func defaultNodeProperties(node *corev1.Node) map[string]string {
	props := map[string]string{"Aux/topology/linbit.com/hostname": node.Name}
	for _, l := range topologyLabels {
		if v, ok := node.Labels[l]; ok {
			props["Aux/topology/"+l] = v
		}
	}
	return props
}

// topologyNode builds the topology entry of one satellite.
func topologyNode(s *mergedSatellite) storagev1alpha1.TopologyNode {
	n := s.node
	props := defaultNodeProperties(n)
	for k, v := range resolveNodeProperties(s.properties, n) {
		props[k] = v
	}
	tn := storagev1alpha1.TopologyNode{
		Name:                    n.Name,
		Labels:                  n.Labels,
		Properties:              props,
		SatelliteConfigurations: s.configs,
		InternalTLS:             s.internalTLS,
		IPFamilies:              s.ipFamilies,
		DeletionPolicy:          s.deletion,
		EvacuationStrategy:      s.evacuation,
		StorageCordoned:         n.Annotations[AnnotationStorageCordon] == "true",
	}
	for _, a := range n.Status.Addresses {
		tn.Addresses = append(tn.Addresses, storagev1alpha1.NodeAddress{Type: string(a.Type), Address: a.Address})
	}
	for i := range s.pools {
		tn.StoragePools = append(tn.StoragePools, topologyPool(&s.pools[i], s.poolSource[s.pools[i].Name], n))
	}
	sort.Slice(tn.StoragePools, func(i, j int) bool { return tn.StoragePools[i].Name < tn.StoragePools[j].Name })
	return tn
}

func topologyPool(p *piraeusv1.LinstorStoragePool, source string, node *corev1.Node) storagev1alpha1.StoragePool {
	sp := storagev1alpha1.StoragePool{
		Name:                   p.Name,
		ProviderKind:           p.ProviderKind(),
		VolumeGroup:            p.VolumeGroup(),
		ThinPool:               p.ThinPool(),
		Directory:              p.Directory(),
		ZPool:                  p.ZPool(),
		SatelliteConfiguration: source,
	}
	if p.Source != nil {
		sp.HostDevices = p.Source.HostDevices
	}
	if props := resolveNodeProperties(p.Properties, node); len(props) > 0 {
		sp.Properties = props
	}
	return sp
}

// defaultAllocation is used when no previous topology says otherwise.
func defaultAllocation() storagev1alpha1.AllocationSettings {
	return storagev1alpha1.AllocationSettings{
		PortMin: DefaultPortMin, PortMax: DefaultPortMax,
		MinorMin: DefaultMinorMin, MinorMax: DefaultMinorMax,
	}
}

func controllerProperties(c *piraeusv1.LinstorCluster) map[string]string {
	if len(c.Spec.Properties) == 0 {
		return nil
	}
	out := make(map[string]string, len(c.Spec.Properties))
	for _, p := range c.Spec.Properties {
		out[p.Name] = p.Value
	}
	return out
}
