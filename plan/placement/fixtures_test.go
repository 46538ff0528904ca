package placement

import (
	"fmt"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	piraeusv1 "github.com/piraeusctl/piraeusctl/api/v1"
)

const gi = int64(1) << 30

// poolSpec is "name:KIND[:capacityGi]" for testNode.
type poolSpec struct {
	name     string
	kind     piraeusv1.ProviderKind
	capacity int64 // bytes; 0 = unknown
}

func thin(name string, capGi int64) poolSpec {
	return poolSpec{name: name, kind: piraeusv1.ProviderLVMThin, capacity: capGi * gi}
}

func thick(name string, capGi int64) poolSpec {
	return poolSpec{name: name, kind: piraeusv1.ProviderLVM, capacity: capGi * gi}
}

func testNode(name, zone string, pools ...poolSpec) storagev1alpha1.TopologyNode {
	n := storagev1alpha1.TopologyNode{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}}
	if zone != "" {
		n.Labels["topology.kubernetes.io/zone"] = zone
	}
	for _, p := range pools {
		sp := storagev1alpha1.StoragePool{Name: p.name, ProviderKind: p.kind}
		if p.capacity > 0 {
			c := p.capacity
			sp.CapacityBytes = &c
		}
		n.StoragePools = append(n.StoragePools, sp)
	}
	return n
}

func testGroup(name string, count int32, pools []string, different ...string) storagev1alpha1.ResourceGroup {
	return storagev1alpha1.ResourceGroup{
		Name: name, StorageClasses: []string{name}, PlaceCount: count, StoragePools: pools,
		ReplicasOnDifferent: different, LayerList: []string{"drbd", "storage"},
	}
}

func testVolume(name, group string, sizeGi int64) storagev1alpha1.StorageVolume {
	v := storagev1alpha1.StorageVolume{}
	v.Name = name
	v.Spec.ResourceGroup = group
	v.Spec.Volumes = []storagev1alpha1.VolumeDefinition{{SizeBytes: sizeGi * gi}}
	return v
}

func testVolumes(group string, n int, sizeGi int64) []storagev1alpha1.StorageVolume {
	vols := make([]storagev1alpha1.StorageVolume, n)
	for i := range vols {
		vols[i] = testVolume(fmt.Sprintf("pvc-%s-%04d", group, i), group, sizeGi)
	}
	return vols
}

// scenario is a topology and the volumes to place on it.
type scenario struct {
	storagev1alpha1.StorageTopologySpec
	volumes []storagev1alpha1.StorageVolume
}

// DeepCopy copies topology and volumes.
func (s *scenario) DeepCopy() *scenario {
	out := &scenario{StorageTopologySpec: *s.StorageTopologySpec.DeepCopy()}
	for i := range s.volumes {
		out.volumes = append(out.volumes, *s.volumes[i].DeepCopy())
	}
	return out
}

// with is the scenario's topology with other volumes (e.g. a result's).
func (s *scenario) with(vols []storagev1alpha1.StorageVolume) *scenario {
	return &scenario{StorageTopologySpec: s.StorageTopologySpec, volumes: vols}
}

func testSpec(nodes []storagev1alpha1.TopologyNode, groups []storagev1alpha1.ResourceGroup, vols ...[]storagev1alpha1.StorageVolume) *scenario {
	s := &scenario{StorageTopologySpec: storagev1alpha1.StorageTopologySpec{
		Allocation:     storagev1alpha1.AllocationSettings{PortMin: 7000, PortMax: 7999, MinorMin: 1000, MinorMax: 1048575},
		Nodes:          nodes,
		ResourceGroups: groups,
	}}
	for _, v := range vols {
		s.volumes = append(s.volumes, v...)
	}
	return s
}

// place places a scenario, keeping previous volumes' placements.
func place(s *scenario, previous []storagev1alpha1.StorageVolume, opts Options) (*Result, error) {
	return Place(&s.StorageTopologySpec, s.volumes, previous, opts)
}

const zoneKey = "Aux/topology/topology.kubernetes.io/zone"
