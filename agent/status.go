package agent

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/piraeusctl/piraeusctl/agent/drbd"
	"github.com/piraeusctl/piraeusctl/agent/storage"
	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
)

// Status reads the host: the pools of the last applied desired state, every
// resource found there or desired, and the orphans. It runs only read-only
// commands and reports read errors in the status instead of failing.
func (a *Agent) Status(ctx context.Context) *agentv1.NodeStatus {
	desired, _ := a.lastDesired()
	if desired == nil {
		desired = &agentv1.NodeDesiredState{NodeName: a.cfg.NodeName}
	}
	st := &agentv1.NodeStatus{NodeName: a.cfg.NodeName}
	h := host{pools: map[string]*pool{}}
	for _, spec := range desired.GetStoragePools() {
		p, _ := openPool(ctx, spec, a.cfg.Exec, false)
		h.pools[spec.GetName()] = p
		st.Pools = append(st.Pools, poolStatus(ctx, p))
	}
	var err error
	if h.resFiles, err = a.readResFiles(); err != nil {
		st.Errors = append(st.Errors, err.Error())
	}
	if len(h.resFiles) > 0 || slices.ContainsFunc(desired.GetResources(), usesDRBD) {
		if h.kernel, err = a.readKernel(ctx, a.cfg.Exec); err != nil {
			st.Errors = append(st.Errors, err.Error())
		}
	}
	st.Resources = a.resourceStatuses(desired, h)
	st.Snapshots = snapshotStatuses(desired, h, a.snapshotErrors())
	st.Orphans = orphans(desired, h)
	return st
}

func poolStatus(ctx context.Context, p *pool) *agentv1.PoolStatus {
	ps := &agentv1.PoolStatus{Name: p.spec.GetName(), ProviderKind: p.spec.GetProviderKind()}
	if p.err != nil {
		ps.Error = p.err.Error()
		return ps
	}
	c, err := p.provider.Capacity(ctx)
	if err != nil {
		ps.Error = err.Error()
		return ps
	}
	ps.CapacityKib, ps.FreeKib = c.TotalKiB, c.FreeKiB
	return ps
}

// resourceStatuses reports every desired resource and every resource the
// host has volumes, files or DRBD state of.
func (a *Agent) resourceStatuses(desired *agentv1.NodeDesiredState, h host) []*agentv1.ResourceStatus {
	byName := map[string]*agentv1.ResourceStatus{}
	get := func(name string) *agentv1.ResourceStatus {
		if rs, ok := byName[name]; ok {
			return rs
		}
		rs := &agentv1.ResourceStatus{Name: name, Quorum: true}
		byName[name] = rs
		return rs
	}
	for _, r := range desired.GetResources() {
		get(r.GetName()).Uid = r.GetUid()
	}
	for _, poolName := range sortedKeys(h.pools) {
		for _, name := range sortedKeys(h.pools[poolName].volumes) {
			v := h.pools[poolName].volumes[name]
			rs := get(v.Resource)
			if rs.Uid == "" {
				rs.Uid = v.UID
			}
			rs.Volumes = append(rs.Volumes, volumeStatus(v))
		}
	}
	for name, f := range h.resFiles {
		if rs := get(name); rs.Uid == "" {
			rs.Uid = f.uid
		}
	}
	for name, k := range h.kernel {
		applyKernel(get(name), k, a.cfg.NodeName)
	}
	out := make([]*agentv1.ResourceStatus, 0, len(byName))
	for _, name := range sortedKeys(byName) {
		rs := byName[name]
		slices.SortFunc(rs.Volumes, func(x, y *agentv1.VolumeStatus) int { return int(x.Number) - int(y.Number) })
		out = append(out, rs)
	}
	return out
}

func volumeStatus(v storage.Volume) *agentv1.VolumeStatus {
	return &agentv1.VolumeStatus{Number: v.Number, BackingDevice: v.DevicePath, DevicePath: v.DevicePath,
		BackingSizeKib: v.SizeKiB, Quorum: true}
}

// applyKernel adds what DRBD reports to a resource's status.
func applyKernel(rs *agentv1.ResourceStatus, k drbd.Resource, node string) {
	rs.DrbdUp, rs.Role = true, k.Role
	if k.Role == "Primary" {
		rs.PrimaryNode = node
	}
	for _, d := range k.Devices {
		vs := findVolume(rs, uint32(d.Volume))
		vs.DevicePath = "/dev/drbd" + strconv.Itoa(d.Minor)
		vs.DiskState, vs.Quorum = d.DiskState, d.Quorum
		rs.Quorum = rs.Quorum && d.Quorum
	}
	for _, c := range k.Connections {
		ps := &agentv1.PeerStatus{NodeName: c.Name, NodeId: uint32(max(c.PeerNodeID, 0)), ConnectionState: c.State, Role: c.PeerRole}
		if c.PeerRole == "Primary" {
			rs.PrimaryNode = c.Name
		}
		for _, pd := range c.PeerDevices {
			ps.Volumes = append(ps.Volumes, &agentv1.PeerVolumeStatus{Number: uint32(pd.Volume),
				ReplicationState: pd.ReplicationState, PeerDiskState: pd.PeerDiskState, PercentInSync: pd.PercentInSync})
		}
		rs.Peers = append(rs.Peers, ps)
	}
	slices.SortFunc(rs.Peers, func(x, y *agentv1.PeerStatus) int { return strings.Compare(x.NodeName, y.NodeName) })
}

func findVolume(rs *agentv1.ResourceStatus, n uint32) *agentv1.VolumeStatus {
	for _, v := range rs.Volumes {
		if v.Number == n {
			return v
		}
	}
	v := &agentv1.VolumeStatus{Number: n}
	rs.Volumes = append(rs.Volumes, v)
	return v
}
