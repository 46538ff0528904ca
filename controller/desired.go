package controller

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	piraeusv1 "github.com/piraeusctl/piraeusctl/api/v1"
)

// Property keys and values the desired state reads (LINSTOR's names).
const (
	propDrbdPrefix     = "DrbdOptions/"
	propAutoQuorum     = "DrbdOptions/auto-quorum"
	propQuorum         = "DrbdOptions/Resource/quorum"
	propOnNoQuorum     = "DrbdOptions/Resource/on-no-quorum"
	autoQuorumDisabled = "disabled"
	// defaultMaxPeers is what LINSTOR gives create-md.
	defaultMaxPeers = 7
)

// Interface names of a node's default addresses, as piraeus-operator names
// the LINSTOR net interfaces it creates (LinstorNodeConnection paths refer to them).
const (
	interfaceIPv4 = "default-ipv4"
	interfaceIPv6 = "default-ipv6"
)

// DesiredInput is what the desired state of one node is computed from.
type DesiredInput struct {
	// Topology is the cluster's shape (nodes, pools, connections, groups).
	Topology *storagev1alpha1.StorageTopologySpec
	// Volumes with a replica on the node that may be deployed: placed,
	// allocations registered, not being deleted. Any order.
	Volumes []*storagev1alpha1.StorageVolume
	// Fresh reports whether a volume has never been Ready: only then may the
	// initial sync make one replica's data the start (agent initial_primary),
	// and only then is a volume with a source restored from its snapshot.
	Fresh func(*storagev1alpha1.StorageVolume) bool
	// Snapshots: all StorageSnapshots; those naming the node are its desired snapshots.
	Snapshots []*storagev1alpha1.StorageSnapshot
	// Sources: the snapshots volumes are restored from, by object name.
	Sources map[string]*storagev1alpha1.StorageSnapshot
}

// Desired computes the complete desired state of one node: its pools from
// the topology and every volume with a replica there, with peers, addresses,
// ports, minors and node ids. A volume that cannot be expressed (an unknown
// pool, a missing address) is left out and reported in problems, keyed by
// volume name; the rest of the node is unaffected.
func Desired(node string, in DesiredInput) (*agentv1.NodeDesiredState, map[string]error) {
	out := &agentv1.NodeDesiredState{NodeName: node}
	tn := in.Topology.Node(node)
	if tn == nil {
		return out, nil
	}
	for i := range tn.StoragePools {
		out.StoragePools = append(out.StoragePools, agentPool(&tn.StoragePools[i]))
	}
	problems := map[string]error{}
	vols := slices.Clone(in.Volumes)
	slices.SortFunc(vols, func(a, b *storagev1alpha1.StorageVolume) int { return cmp.Compare(a.Name, b.Name) })
	for _, v := range vols {
		r, err := desiredResource(node, in, v)
		if err == nil && r != nil {
			err = poolsKnown(r, out.StoragePools)
		}
		if err != nil {
			problems[v.Name] = err
			continue
		}
		if r != nil {
			out.Resources = append(out.Resources, r)
		}
	}
	snaps, snapProblems := desiredSnapshots(node, in.Snapshots)
	out.Snapshots = snaps
	for name, err := range snapProblems {
		problems[name] = err
	}
	if len(problems) == 0 {
		problems = nil
	}
	return out, problems
}

// poolsKnown refuses a resource whose disk is in a pool the node does not
// have: the agent refuses a desired state naming one as a whole, so one
// such volume would hold back every other resource of the node.
func poolsKnown(r *agentv1.Resource, pools []*agentv1.StoragePool) error {
	for _, vol := range r.GetVolumes() {
		if vol.GetDiskless() {
			continue
		}
		if !slices.ContainsFunc(pools, func(p *agentv1.StoragePool) bool { return p.GetName() == vol.GetStoragePool() }) {
			return fmt.Errorf("volume %d: storage pool %q is not a pool of this node", vol.GetNumber(), vol.GetStoragePool())
		}
	}
	return nil
}

func agentPool(p *storagev1alpha1.StoragePool) *agentv1.StoragePool {
	return &agentv1.StoragePool{
		Name:         p.Name,
		ProviderKind: providerKind(p.ProviderKind),
		VolumeGroup:  p.VolumeGroup,
		ThinPool:     p.ThinPool,
		Directory:    p.Directory,
		HostDevices:  slices.Clone(p.HostDevices),
		Properties:   p.Properties,
	}
}

func providerKind(k piraeusv1.ProviderKind) agentv1.ProviderKind {
	if v, ok := agentv1.ProviderKind_value[string(k)]; ok {
		return agentv1.ProviderKind(v)
	}
	return agentv1.ProviderKind_PROVIDER_KIND_UNSPECIFIED
}

// desiredResource is one volume as it concerns node; nil when the node holds
// no replica of it or the volume has no volume definitions yet.
func desiredResource(node string, in DesiredInput, v *storagev1alpha1.StorageVolume) (*agentv1.Resource, error) {
	self := v.Spec.Replica(node)
	if self == nil || len(v.Spec.Volumes) == 0 {
		return nil, nil
	}
	group := resourceGroup(in.Topology, v.Spec.ResourceGroup)
	layers, err := layerList(v, group)
	if err != nil {
		return nil, err
	}
	r := &agentv1.Resource{Name: v.Name, Uid: string(v.UID), Layers: layers}
	if !self.Diskless && restoreSource(v) != "" && in.Fresh != nil && in.Fresh(v) {
		src, err := restoreFrom(node, in, v)
		if err != nil {
			return nil, err
		}
		r.RestoreFrom = src
	}
	drbdLayer := slices.Contains(layers, agentv1.Layer_DRBD)
	if drbdLayer && len(self.Minors) != len(v.Spec.Volumes) {
		return nil, fmt.Errorf("replica on %s has %d minors for %d volumes: allocation incomplete", node, len(self.Minors), len(v.Spec.Volumes))
	}
	for i, vd := range v.Spec.Volumes {
		av := &agentv1.Volume{
			Number:      uint32(vd.Number),
			SizeKib:     uint64((vd.SizeBytes + 1023) / 1024),
			StoragePool: self.StoragePool,
			Diskless:    self.Diskless,
		}
		if drbdLayer {
			av.Minor = uint32(self.Minors[i])
		}
		r.Volumes = append(r.Volumes, av)
	}
	if drbdLayer {
		props := effectiveProperties(in.Topology, group, v)
		d, err := desiredDRBD(node, in, v, self, props)
		if err != nil {
			return nil, err
		}
		r.Drbd = d
	}
	return r, nil
}

// resourceGroup finds a group of the topology, nil when absent.
func resourceGroup(t *storagev1alpha1.StorageTopologySpec, name string) *storagev1alpha1.ResourceGroup {
	for i := range t.ResourceGroups {
		if t.ResourceGroups[i].Name == name {
			return &t.ResourceGroups[i]
		}
	}
	return nil
}

// layerList is the volume's layer stack: its own, else its group's, else drbd,storage.
func layerList(v *storagev1alpha1.StorageVolume, g *storagev1alpha1.ResourceGroup) ([]agentv1.Layer, error) {
	names := v.Spec.LayerList
	if len(names) == 0 && g != nil {
		names = g.LayerList
	}
	if len(names) == 0 {
		names = []string{"drbd", "storage"}
	}
	out := make([]agentv1.Layer, 0, len(names))
	for _, n := range names {
		switch strings.ToLower(n) {
		case "drbd":
			out = append(out, agentv1.Layer_DRBD)
		case "storage":
			out = append(out, agentv1.Layer_STORAGE)
		default:
			return nil, fmt.Errorf("layer %q is not supported by the agent (supported: drbd, storage)", n)
		}
	}
	return out, nil
}

// effectiveProperties merges the cluster's, the group's (its DRBD options
// under DrbdOptions/ and its other properties) and the volume's own
// properties, later winning.
func effectiveProperties(t *storagev1alpha1.StorageTopologySpec, g *storagev1alpha1.ResourceGroup, v *storagev1alpha1.StorageVolume) map[string]string {
	out := map[string]string{}
	for k, val := range t.Properties {
		out[k] = val
	}
	if g != nil {
		for k, val := range g.Properties {
			out[k] = val
		}
		for k, val := range g.DrbdOptions {
			out[propDrbdPrefix+k] = val
		}
	}
	for k, val := range v.Spec.Properties {
		out[k] = val
	}
	return out
}

// desiredDRBD is the DRBD layer of one replica: this node's id, port and
// address, its peers, options from DrbdOptions/* properties and quorum.
func desiredDRBD(node string, in DesiredInput, v *storagev1alpha1.StorageVolume, self *storagev1alpha1.Replica, props map[string]string) (*agentv1.DrbdResource, error) {
	if self.Port == 0 {
		return nil, fmt.Errorf("replica on %s has no DRBD port: allocation incomplete", node)
	}
	addr, err := nodeAddress(in.Topology, node, interfaceIPv4)
	if err != nil {
		return nil, err
	}
	d := &agentv1.DrbdResource{
		Port:            uint32(self.Port),
		NodeId:          uint32(self.NodeID),
		Address:         addr,
		ResourceOptions: map[string]string{},
		NetOptions:      map[string]string{},
		DiskOptions:     map[string]string{},
		MaxPeers:        defaultMaxPeers,
	}
	for _, r := range v.Spec.Replicas {
		if r.Node == node {
			continue
		}
		p, err := desiredPeer(in.Topology, node, &r)
		if err != nil {
			return nil, err
		}
		d.Peers = append(d.Peers, p)
	}
	drbdOptions(props, d)
	d.Quorum = quorum(props, v.Spec.Replicas)
	if in.Fresh != nil && in.Fresh(v) && initialPrimary(v.Spec.Replicas) == node {
		d.InitialPrimary = true
		d.SkipInitialSync = allThin(in.Topology, v.Spec.Replicas) && v.Spec.Source == nil
	}
	return d, nil
}

func desiredPeer(t *storagev1alpha1.StorageTopologySpec, node string, r *storagev1alpha1.Replica) (*agentv1.DrbdPeer, error) {
	if r.Port == 0 {
		return nil, fmt.Errorf("replica on %s has no DRBD port: allocation incomplete", r.Node)
	}
	addr, err := nodeAddress(t, r.Node, interfaceIPv4)
	if err != nil {
		return nil, err
	}
	p := &agentv1.DrbdPeer{NodeName: r.Node, NodeId: uint32(r.NodeID), Address: addr, Port: uint32(r.Port), Diskless: r.Diskless}
	for _, c := range t.NodeConnections {
		if !(c.NodeA == node && c.NodeB == r.Node) && !(c.NodeA == r.Node && c.NodeB == node) {
			continue
		}
		for _, path := range c.Paths {
			local, err := nodeAddress(t, node, path.Interface)
			if err != nil {
				return nil, fmt.Errorf("node connection path %s: %w", path.Name, err)
			}
			remote, err := nodeAddress(t, r.Node, path.Interface)
			if err != nil {
				return nil, fmt.Errorf("node connection path %s: %w", path.Name, err)
			}
			p.Paths = append(p.Paths, &agentv1.DrbdPath{LocalAddress: local, PeerAddress: remote})
		}
	}
	return p, nil
}

// nodeAddress resolves a node's address for a LINSTOR net interface name:
// default-ipv4 / default-ipv6 are the node's first InternalIP of that
// family (else ExternalIP). default-ipv4 falls back to IPv6 for an IPv6-only node.
func nodeAddress(t *storagev1alpha1.StorageTopologySpec, node, iface string) (string, error) {
	tn := t.Node(node)
	if tn == nil {
		return "", fmt.Errorf("node %s is not in the StorageTopology", node)
	}
	want6 := iface == interfaceIPv6
	if iface != interfaceIPv4 && iface != interfaceIPv6 {
		return "", fmt.Errorf("net interface %q of node %s is unknown (known: %s, %s)", iface, node, interfaceIPv4, interfaceIPv6)
	}
	for _, fallback := range []bool{false, true} {
		for _, typ := range []string{"InternalIP", "ExternalIP"} {
			for _, a := range tn.Addresses {
				ip, err := netip.ParseAddr(a.Address)
				if a.Type != typ || err != nil {
					continue
				}
				if ip.Is6() == want6 || (fallback && iface == interfaceIPv4) {
					return ip.String(), nil
				}
			}
		}
	}
	return "", fmt.Errorf("node %s has no %s address (Node.status.addresses)", node, map[bool]string{false: "IPv4", true: "IPv6"}[want6])
}

// drbdOptions sorts DrbdOptions/{Net,Disk,Resource}/<option> properties into
// the DRBD sections; quorum options are handled by quorum.
func drbdOptions(props map[string]string, d *agentv1.DrbdResource) {
	for k, v := range props {
		rest, ok := strings.CutPrefix(k, propDrbdPrefix)
		if !ok {
			continue
		}
		section, opt, ok := strings.Cut(rest, "/")
		if !ok || opt == "" {
			continue
		}
		switch section {
		case "Net":
			d.NetOptions[opt] = v
		case "Disk":
			d.DiskOptions[opt] = v
		case "Resource":
			if opt != "quorum" && opt != "on-no-quorum" {
				d.ResourceOptions[opt] = v
			}
		}
	}
}

// quorum follows LINSTOR's auto-quorum: a resource with three or more
// replicas (a diskless tie-breaker counts) gets quorum majority, and
// on-no-quorum io-error unless DrbdOptions/auto-quorum says suspend-io.
// DrbdOptions/auto-quorum=disabled turns it off; explicit
// DrbdOptions/Resource/quorum and on-no-quorum win.
func quorum(props map[string]string, replicas []storagev1alpha1.Replica) *agentv1.Quorum {
	q := &agentv1.Quorum{Policy: agentv1.QuorumPolicy_QUORUM_OFF}
	auto := props[propAutoQuorum]
	if len(replicas) >= 3 && auto != autoQuorumDisabled {
		q.Policy = agentv1.QuorumPolicy_QUORUM_MAJORITY
		q.OnNoQuorum = agentv1.OnNoQuorum_ON_NO_QUORUM_IO_ERROR
		if auto == "suspend-io" {
			q.OnNoQuorum = agentv1.OnNoQuorum_ON_NO_QUORUM_SUSPEND_IO
		}
	}
	switch props[propQuorum] {
	case "majority":
		q.Policy = agentv1.QuorumPolicy_QUORUM_MAJORITY
	case "all":
		q.Policy = agentv1.QuorumPolicy_QUORUM_ALL
	case "off":
		q.Policy = agentv1.QuorumPolicy_QUORUM_OFF
	}
	switch props[propOnNoQuorum] {
	case "io-error":
		q.OnNoQuorum = agentv1.OnNoQuorum_ON_NO_QUORUM_IO_ERROR
	case "suspend-io":
		q.OnNoQuorum = agentv1.OnNoQuorum_ON_NO_QUORUM_SUSPEND_IO
	}
	if q.Policy == agentv1.QuorumPolicy_QUORUM_OFF {
		q.OnNoQuorum = agentv1.OnNoQuorum_ON_NO_QUORUM_UNSPECIFIED
	} else if q.OnNoQuorum == agentv1.OnNoQuorum_ON_NO_QUORUM_UNSPECIFIED {
		q.OnNoQuorum = agentv1.OnNoQuorum_ON_NO_QUORUM_IO_ERROR
	}
	return q
}

// initialPrimary is the node whose data starts a new volume: the diskful
// replica with the lowest node id.
func initialPrimary(replicas []storagev1alpha1.Replica) string {
	best, id := "", int32(1<<30)
	for _, r := range replicas {
		if !r.Diskless && r.NodeID < id {
			best, id = r.Node, r.NodeID
		}
	}
	return best
}

// allThin reports whether every diskful replica is in a thin pool (whose new
// volumes read as zeros, so the initial full sync can be skipped).
func allThin(t *storagev1alpha1.StorageTopologySpec, replicas []storagev1alpha1.Replica) bool {
	n := 0
	for _, r := range replicas {
		if r.Diskless {
			continue
		}
		tn := t.Node(r.Node)
		if tn == nil {
			return false
		}
		i := slices.IndexFunc(tn.StoragePools, func(p storagev1alpha1.StoragePool) bool { return p.Name == r.StoragePool })
		if i < 0 {
			return false
		}
		switch tn.StoragePools[i].ProviderKind {
		case piraeusv1.ProviderLVMThin, piraeusv1.ProviderFileThin:
			n++
		default:
			return false
		}
	}
	return n > 1
}

// restoreFrom is the snapshot a fresh volume's replica on node is created
// from. Until that snapshot is taken on the node, the volume is left out
// (an error): it is never created empty in place of restored.
func restoreFrom(node string, in DesiredInput, v *storagev1alpha1.StorageVolume) (*agentv1.SnapshotSource, error) {
	name := restoreSource(v)
	s := in.Sources[name]
	switch {
	case s == nil:
		return nil, fmt.Errorf("waiting for snapshot %s to restore from", name)
	case s.DeletionTimestamp != nil:
		return nil, fmt.Errorf("snapshot %s to restore from is being deleted", name)
	case !takenOn(s, node):
		return nil, fmt.Errorf("waiting for snapshot %s to be taken on %s", name, node)
	}
	return &agentv1.SnapshotSource{Resource: s.Spec.Volume, Snapshot: s.Spec.SnapshotName, Uid: string(s.UID)}, nil
}
