package linstorapi

import (
	"encoding/json"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"

	linstor "github.com/LINBIT/golinstor"
	lapi "github.com/LINBIT/golinstor/client"
	"github.com/LINBIT/golinstor/devicelayerkind"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	piraeusv1 "github.com/piraeusctl/piraeusctl/api/v1"
)

// Names and keys the API shares with LINSTOR.
const (
	disklessPool = "DfltDisklessStorPool"
	// AnnotationResourceProps holds the properties of the volume's
	// resources and their volumes, by node (JSON), which have no field of
	// their own in the spec.
	AnnotationResourceProps = "storage.piraeus.io/linstor-resource-props"
	propDrbdPrefix          = "DrbdOptions/"
	propFSType              = "FileSystem/Type"
	propFSMkfs              = "FileSystem/MkfsParams"
	satellitePort           = 3366
)

// nodeProps are the props of one node's resource and its volumes.
type nodeProps struct {
	Rsc map[string]string            `json:"rsc,omitempty"`
	Vlm map[string]map[string]string `json:"vlm,omitempty"`
}

// resourceProps reads the volume's per-node props.
func resourceProps(v *storagev1alpha1.StorageVolume) map[string]nodeProps {
	out := map[string]nodeProps{}
	if s := v.Annotations[AnnotationResourceProps]; s != "" {
		_ = json.Unmarshal([]byte(s), &out)
	}
	return out
}

// setResourceProps writes the volume's per-node props.
func setResourceProps(v *storagev1alpha1.StorageVolume, p map[string]nodeProps) {
	for n, np := range p {
		if len(np.Rsc) == 0 && len(np.Vlm) == 0 {
			delete(p, n)
		}
	}
	if v.Annotations == nil {
		v.Annotations = map[string]string{}
	}
	if len(p) == 0 {
		delete(v.Annotations, AnnotationResourceProps)
		return
	}
	b, _ := json.Marshal(p)
	v.Annotations[AnnotationResourceProps] = string(b)
}

// layers is the volume's layer stack, top down, lower case.
func layers(v *storagev1alpha1.StorageVolume, g *storagev1alpha1.ResourceGroup) []string {
	if len(v.Spec.LayerList) > 0 {
		return v.Spec.LayerList
	}
	if g != nil && len(g.LayerList) > 0 {
		return g.LayerList
	}
	return []string{"drbd", "storage"}
}

func hasDRBD(l []string) bool { return slices.Contains(l, "drbd") }

// toLayerKinds maps lower-case layer names to LINSTOR's.
func toLayerKinds(l []string) []devicelayerkind.DeviceLayerKind {
	out := make([]devicelayerkind.DeviceLayerKind, 0, len(l))
	for _, x := range l {
		out = append(out, devicelayerkind.DeviceLayerKind(strings.ToUpper(x)))
	}
	return out
}

// fromLayerNames maps LINSTOR layer names to ours, refusing unknown ones.
func fromLayerNames(in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	for _, l := range in {
		switch x := strings.ToLower(l); x {
		case "drbd", "storage", "luks", "nvme", "cache", "writecache":
			out = append(out, x)
		default:
			return nil, invalid(uint64(linstor.FailInvldLayerStack), "unknown layer %q: expected DRBD, STORAGE, LUKS, NVME, CACHE or WRITECACHE", l)
		}
	}
	return out, nil
}

// group finds a resource group of the topology.
func group(t *storagev1alpha1.StorageTopology, name string) *storagev1alpha1.ResourceGroup {
	if t == nil {
		return nil
	}
	for i := range t.Spec.ResourceGroups {
		if strings.EqualFold(t.Spec.ResourceGroups[i].Name, name) {
			return &t.Spec.ResourceGroups[i]
		}
	}
	return nil
}

// topoNode finds a node of the topology.
func topoNode(t *storagev1alpha1.StorageTopology, name string) *storagev1alpha1.TopologyNode {
	if t == nil {
		return nil
	}
	for i := range t.Spec.Nodes {
		if strings.EqualFold(t.Spec.Nodes[i].Name, name) {
			return &t.Spec.Nodes[i]
		}
	}
	return nil
}

// nodeStatus finds a node's observed status.
func nodeStatus(t *storagev1alpha1.StorageTopology, name string) *storagev1alpha1.NodeStatus {
	if t == nil {
		return nil
	}
	for i := range t.Status.Nodes {
		if t.Status.Nodes[i].Name == name {
			return &t.Status.Nodes[i]
		}
	}
	return nil
}

// pool finds a pool of a node.
func pool(n *storagev1alpha1.TopologyNode, name string) *storagev1alpha1.StoragePool {
	for i := range n.StoragePools {
		if n.StoragePools[i].Name == name {
			return &n.StoragePools[i]
		}
	}
	return nil
}

// nodeDTO is a topology node as LINSTOR shows a satellite.
func nodeDTO(t *storagev1alpha1.StorageTopology, n *storagev1alpha1.TopologyNode) lapi.Node {
	conn := "OFFLINE"
	if st := nodeStatus(t, n.Name); st != nil && st.Connected {
		conn = "ONLINE"
	}
	props := maps.Clone(n.Properties)
	if props == nil {
		props = map[string]string{}
	}
	props["CurStltConnName"] = "default"
	out := lapi.Node{Name: n.Name, Type: "SATELLITE", Props: props, ConnectionStatus: conn,
		Uuid: "node-" + n.Name, ResourceLayers: toLayerKinds([]string{"drbd", "storage"})}
	providers := []lapi.ProviderKind{lapi.DISKLESS}
	for _, p := range n.StoragePools {
		if k := lapi.ProviderKind(p.ProviderKind); !slices.Contains(providers, k) {
			providers = append(providers, k)
		}
	}
	out.StorageProviders = providers
	for _, a := range n.Addresses {
		if a.Type == "InternalIP" {
			out.NetInterfaces = append(out.NetInterfaces, lapi.NetInterface{Name: "default", Address: net.ParseIP(a.Address),
				SatellitePort: satellitePort, SatelliteEncryptionType: "SSL", IsActive: true})
			break
		}
	}
	return out
}

// poolDTOs are a node's pools as LINSTOR shows them, with the diskless pool
// every satellite has; capacities in KiB.
func poolDTOs(t *storagev1alpha1.StorageTopology, n *storagev1alpha1.TopologyNode) []lapi.StoragePool {
	st := nodeStatus(t, n.Name)
	out := []lapi.StoragePool{{StoragePoolName: disklessPool, NodeName: n.Name, ProviderKind: lapi.DISKLESS,
		FreeCapacity: 1<<63 - 1, TotalCapacity: 1<<63 - 1, Uuid: "pool-" + n.Name + "-" + disklessPool,
		FreeSpaceMgrName: n.Name + ";" + disklessPool, SupportsSnapshots: false,
		StaticTraits: map[string]string{"SupportsSnapshots": "false"}}}
	for _, p := range n.StoragePools {
		thin := p.ProviderKind == piraeusv1.ProviderKind("LVM_THIN") || p.ProviderKind == piraeusv1.ProviderKind("FILE_THIN") || p.ProviderKind == piraeusv1.ProviderKind("ZFS_THIN")
		sp := lapi.StoragePool{StoragePoolName: p.Name, NodeName: n.Name, ProviderKind: lapi.ProviderKind(p.ProviderKind),
			Props: maps.Clone(p.Properties), Uuid: "pool-" + n.Name + "-" + p.Name, FreeSpaceMgrName: n.Name + ";" + p.Name,
			SupportsSnapshots: thin, StaticTraits: map[string]string{"SupportsSnapshots": strconv.FormatBool(thin)}}
		if thin {
			sp.StaticTraits["Provisioning"] = "Thin"
		} else {
			sp.StaticTraits["Provisioning"] = "Fat"
		}
		if p.CapacityBytes != nil {
			sp.TotalCapacity, sp.FreeCapacity = *p.CapacityBytes/1024, *p.CapacityBytes/1024
		}
		if st != nil {
			for _, ps := range st.Pools {
				if ps.Name != p.Name {
					continue
				}
				sp.TotalCapacity, sp.FreeCapacity = ps.CapacityBytes/1024, ps.FreeBytes/1024
				if ps.Error != "" {
					code := uint64(linstor.MaskError) | maskStorPool
					sp.Reports = []lapi.ApiCallRc{{RetCode: int64(code), Message: ps.Error}}
				}
			}
		}
		out = append(out, sp)
	}
	return out
}

// groupDTO is a resource group as LINSTOR shows it.
func groupDTO(g *storagev1alpha1.ResourceGroup) lapi.ResourceGroup {
	props := maps.Clone(g.Properties)
	if props == nil {
		props = map[string]string{}
	}
	for k, v := range g.DrbdOptions {
		props[propDrbdPrefix+k] = v
	}
	sf := lapi.AutoSelectFilter{PlaceCount: g.PlaceCount, StoragePoolList: slices.Clone(g.StoragePools),
		ReplicasOnSame: slices.Clone(g.ReplicasOnSame), ReplicasOnDifferent: slices.Clone(g.ReplicasOnDifferent),
		NotPlaceWithRscRegex: g.DoNotPlaceWithRegex, DisklessOnRemaining: g.DisklessOnRemaining,
		NodeNameList: slices.Clone(g.NodeList)}
	if len(g.StoragePools) == 1 {
		sf.StoragePool = g.StoragePools[0]
	}
	if g.DisklessStoragePool != "" {
		sf.StoragePoolDisklessList = []string{g.DisklessStoragePool}
	}
	if len(g.XReplicasOnDifferent) > 0 {
		sf.XReplicasOnDifferent = map[string]int{}
		for k, v := range g.XReplicasOnDifferent {
			sf.XReplicasOnDifferent[k] = int(v)
		}
	}
	for _, l := range toLayerKinds(g.LayerList) {
		sf.LayerStack = append(sf.LayerStack, string(l))
	}
	desc := ""
	if len(g.StorageClasses) > 0 {
		desc = "from StorageClass " + strings.Join(g.StorageClasses, ", ")
	}
	return lapi.ResourceGroup{Name: g.Name, Description: desc, Props: props, SelectFilter: sf, Uuid: "rg-" + g.Name}
}

// rdDTO is a StorageVolume as a resource definition with its volume definitions.
func rdDTO(v *storagev1alpha1.StorageVolume, g *storagev1alpha1.ResourceGroup) lapi.ResourceDefinitionWithVolumeDefinition {
	props := maps.Clone(v.Spec.Properties)
	if props == nil {
		props = map[string]string{}
	}
	rd := lapi.ResourceDefinition{Name: displayName(v), Props: props, ResourceGroupName: v.Spec.ResourceGroup, Uuid: string(v.UID)}
	if v.DeletionTimestamp != nil {
		rd.Flags = []string{linstor.FlagDelete}
	}
	for _, l := range toLayerKinds(layers(v, g)) {
		rd.LayerData = append(rd.LayerData, lapi.ResourceDefinitionLayer{Type: l})
	}
	out := lapi.ResourceDefinitionWithVolumeDefinition{ResourceDefinition: rd}
	for _, vd := range v.Spec.Volumes {
		out.VolumeDefinitions = append(out.VolumeDefinitions, vdDTO(v, vd))
	}
	return out
}

// vdDTO is a volume definition (size in KiB, volume number always present).
func vdDTO(v *storagev1alpha1.StorageVolume, vd storagev1alpha1.VolumeDefinition) lapi.VolumeDefinition {
	nr := vd.Number
	props := maps.Clone(vd.Properties)
	if props == nil {
		props = map[string]string{}
	}
	return lapi.VolumeDefinition{VolumeNumber: &nr, SizeKib: uint64(vd.SizeBytes / 1024), Props: props,
		Uuid: string(v.UID) + "-" + strconv.Itoa(int(nr))}
}

// resourceNodes are the nodes of spec and status replicas, sorted.
func resourceNodes(v *storagev1alpha1.StorageVolume) []string {
	var out []string
	for _, r := range v.Spec.Replicas {
		out = append(out, r.Node)
	}
	for _, r := range v.Status.Replicas {
		if !slices.Contains(out, r.Node) {
			out = append(out, r.Node)
		}
	}
	slices.Sort(out)
	return out
}

// resourceDTOs are the volume's resources: one per node of spec or status.
func resourceDTOs(t *storagev1alpha1.StorageTopology, v *storagev1alpha1.StorageVolume) []lapi.ResourceWithVolumes {
	g := group(t, v.Spec.ResourceGroup)
	l := layers(v, g)
	props := resourceProps(v)
	nodes := resourceNodes(v)
	out := make([]lapi.ResourceWithVolumes, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, resourceDTO(t, v, l, n, props[n]))
	}
	return out
}

// resourceDTO is the resource of v on node.
func resourceDTO(t *storagev1alpha1.StorageTopology, v *storagev1alpha1.StorageVolume, l []string, node string, np nodeProps) lapi.ResourceWithVolumes {
	spec := v.Spec.Replica(node)
	st := v.Status.Replica(node)
	rprops := maps.Clone(np.Rsc)
	if rprops == nil {
		rprops = map[string]string{}
	}
	res := lapi.Resource{Name: displayName(v), NodeName: node, Props: rprops, Uuid: string(v.UID) + "-" + node}
	ts := &lapi.TimeStampMs{Time: v.CreationTimestamp.Time}
	res.CreateTimestamp = ts
	diskless := spec != nil && spec.Diskless
	if diskless {
		res.Flags = append(res.Flags, linstor.FlagDiskless)
		if hasDRBD(l) {
			res.Flags = append(res.Flags, linstor.FlagDrbdDiskless)
		}
		if spec.TieBreaker {
			res.Flags = append(res.Flags, linstor.FlagTieBreaker)
		}
	}
	if spec == nil || v.DeletionTimestamp != nil {
		res.Flags = append(res.Flags, linstor.FlagDelete)
	}
	inUse := st != nil && st.InUse
	res.State = &lapi.ResourceState{InUse: &inUse}
	poolName, kind := disklessPool, lapi.DISKLESS
	if spec != nil && !diskless {
		poolName = spec.StoragePool
		if tn := topoNode(t, node); tn != nil {
			if p := pool(tn, poolName); p != nil {
				kind = lapi.ProviderKind(p.ProviderKind)
			}
		}
	}
	var storageVols []lapi.StorageVolume
	var drbdVols []lapi.DrbdVolume
	vols := make([]lapi.Volume, 0, len(v.Spec.Volumes))
	for i, vd := range v.Spec.Volumes {
		vol := lapi.Volume{VolumeNumber: vd.Number, StoragePoolName: poolName, ProviderKind: kind,
			UsableSizeKib: vd.SizeBytes / 1024, Uuid: res.Uuid + "-" + strconv.Itoa(int(vd.Number)),
			Props: maps.Clone(np.Vlm[strconv.Itoa(int(vd.Number))])}
		if vol.Props == nil {
			vol.Props = map[string]string{}
		}
		vol.State.DiskState = "Unknown"
		if st != nil {
			for _, vs := range st.Volumes {
				if vs.Number != vd.Number {
					continue
				}
				vol.DevicePath, vol.AllocatedSizeKib = vs.DevicePath, vs.AllocatedBytes/1024
				if vs.DiskState != "" {
					vol.State.DiskState = vs.DiskState
				} else if st.Deployed {
					vol.State.DiskState = "UpToDate"
				}
			}
		}
		if diskless && vol.State.DiskState == "Unknown" {
			vol.State.DiskState = "Diskless"
		}
		storageVols = append(storageVols, lapi.StorageVolume{VolumeNumber: vd.Number, DevicePath: vol.DevicePath,
			AllocatedSizeKib: vol.AllocatedSizeKib, UsableSizeKib: vol.UsableSizeKib, DiskState: vol.State.DiskState})
		dv := lapi.DrbdVolume{DevicePath: vol.DevicePath, AllocatedSizeKib: vol.AllocatedSizeKib, UsableSizeKib: vol.UsableSizeKib,
			DiskState: vol.State.DiskState, DrbdVolumeDefinition: lapi.DrbdVolumeDefinition{VolumeNumber: vd.Number}}
		if spec != nil && i < len(spec.Minors) {
			dv.DrbdVolumeDefinition.MinorNumber = spec.Minors[i]
		}
		drbdVols = append(drbdVols, dv)
		vols = append(vols, vol)
	}
	storage := lapi.ResourceLayer{Type: devicelayerkind.Storage, Storage: &lapi.StorageResource{StorageVolumes: storageVols}}
	res.LayerObject = &storage
	if hasDRBD(l) {
		d := &lapi.DrbdResource{DrbdVolumes: drbdVols}
		if spec != nil {
			d.NodeId = spec.NodeID
			d.DrbdResourceDefinition.Port = spec.Port
		}
		if diskless {
			d.Flags = []string{linstor.FlagDiskless}
		}
		if st != nil && len(st.Connections) > 0 {
			d.Connections = map[string]lapi.DrbdConnection{}
			for _, c := range st.Connections {
				d.Connections[c.Peer] = lapi.DrbdConnection{Connected: c.State == "Connected", Message: c.State}
			}
		}
		d.MayPromote = st != nil && st.Quorum
		drbd := lapi.ResourceLayer{Type: devicelayerkind.Drbd, Drbd: d}
		if !diskless {
			drbd.Children = []lapi.ResourceLayer{storage}
		}
		res.LayerObject = &drbd
	}
	return lapi.ResourceWithVolumes{Resource: res, CreateTimestamp: ts, Volumes: vols}
}

// deployed reports whether the replica on node is deployed with a device
// path for every volume.
func deployed(v *storagev1alpha1.StorageVolume, node string) bool {
	st := v.Status.Replica(node)
	if st == nil || !st.Deployed || v.Spec.Replica(node) == nil {
		return false
	}
	for _, vd := range v.Spec.Volumes {
		ok := false
		for _, vs := range st.Volumes {
			ok = ok || (vs.Number == vd.Number && vs.DevicePath != "")
		}
		if !ok {
			return false
		}
	}
	return true
}
