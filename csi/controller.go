package csi

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	linstor "github.com/LINBIT/golinstor"
	lapi "github.com/LINBIT/golinstor/client"
	"github.com/LINBIT/golinstor/devicelayerkind"
	csipb "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/piraeusctl/piraeusctl/plan"
)

// Sizes.
const (
	kib = 1024
	// minVolumeBytes is the smallest volume made (a filesystem needs room).
	minVolumeBytes = 16 << 20
)

// ControllerGetCapabilities lists the controller RPCs the driver implements.
func (d *Driver) ControllerGetCapabilities(context.Context, *csipb.ControllerGetCapabilitiesRequest) (*csipb.ControllerGetCapabilitiesResponse, error) {
	var caps []*csipb.ControllerServiceCapability
	for _, t := range []csipb.ControllerServiceCapability_RPC_Type{
		csipb.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME,
		csipb.ControllerServiceCapability_RPC_PUBLISH_UNPUBLISH_VOLUME,
		csipb.ControllerServiceCapability_RPC_LIST_VOLUMES,
		csipb.ControllerServiceCapability_RPC_GET_CAPACITY,
		csipb.ControllerServiceCapability_RPC_CREATE_DELETE_SNAPSHOT,
		csipb.ControllerServiceCapability_RPC_LIST_SNAPSHOTS,
		csipb.ControllerServiceCapability_RPC_GET_SNAPSHOT,
		csipb.ControllerServiceCapability_RPC_CLONE_VOLUME,
		csipb.ControllerServiceCapability_RPC_EXPAND_VOLUME,
		csipb.ControllerServiceCapability_RPC_GET_VOLUME,
		csipb.ControllerServiceCapability_RPC_GET_VOLUME_HEALTH,
		csipb.ControllerServiceCapability_RPC_LIST_VOLUME_HEALTH,
	} {
		caps = append(caps, &csipb.ControllerServiceCapability{Type: &csipb.ControllerServiceCapability_Rpc{
			Rpc: &csipb.ControllerServiceCapability_RPC{Type: t}}})
	}
	return &csipb.ControllerGetCapabilitiesResponse{Capabilities: caps}, nil
}

// validateCapabilities refuses what the driver cannot give: multi-node
// writers of a filesystem, unknown access types.
func validateCapabilities(caps []*csipb.VolumeCapability) error {
	if len(caps) == 0 {
		return status.Error(codes.InvalidArgument, "volume_capabilities: at least one is required")
	}
	for _, c := range caps {
		if c.GetBlock() == nil && c.GetMount() == nil {
			return status.Error(codes.InvalidArgument, "volume_capabilities: access type must be block or mount")
		}
		mode := c.GetAccessMode().GetMode()
		switch mode {
		case csipb.VolumeCapability_AccessMode_SINGLE_NODE_WRITER, csipb.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY,
			csipb.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER, csipb.VolumeCapability_AccessMode_SINGLE_NODE_MULTI_WRITER,
			csipb.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY:
		case csipb.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER, csipb.VolumeCapability_AccessMode_MULTI_NODE_SINGLE_WRITER:
			if c.GetBlock() == nil {
				return status.Errorf(codes.InvalidArgument, "access mode %s needs a block volume: a filesystem cannot be mounted on several nodes", mode)
			}
		default:
			return status.Errorf(codes.InvalidArgument, "access mode %s is not supported", mode)
		}
	}
	return nil
}

// requestedKiB is the size to make, in KiB: the required bytes (at least
// minVolumeBytes), rounded up to whole KiB, and within the limit.
func requestedKiB(r *csipb.CapacityRange) (uint64, error) {
	req, lim := r.GetRequiredBytes(), r.GetLimitBytes()
	if req < 0 || lim < 0 {
		return 0, status.Error(codes.InvalidArgument, "capacity_range: negative bytes")
	}
	if lim > 0 && req > lim {
		return 0, status.Errorf(codes.InvalidArgument, "capacity_range: required %d bytes exceed the limit of %d", req, lim)
	}
	size := max(req, minVolumeBytes)
	if lim > 0 && size > lim {
		size = lim
	}
	kb := (uint64(size) + kib - 1) / kib
	if lim > 0 && kb*kib > uint64(lim) {
		kb = uint64(lim) / kib
	}
	if kb == 0 {
		return 0, status.Errorf(codes.OutOfRange, "capacity_range: limit of %d bytes is below one KiB", lim)
	}
	return kb, nil
}

// fsTypeOf is the filesystem the capabilities ask for ("" for block).
func fsTypeOf(caps []*csipb.VolumeCapability) string {
	for _, c := range caps {
		if m := c.GetMount(); m != nil {
			if m.GetFsType() != "" {
				return m.GetFsType()
			}
			return defaultFsType
		}
	}
	return ""
}

// contentSourceKey is how a volume's source is recorded: "snapshot:<id>",
// "volume:<id>" or "".
func contentSourceKey(src *csipb.VolumeContentSource) string {
	switch {
	case src.GetSnapshot() != nil:
		return "snapshot:" + src.GetSnapshot().GetSnapshotId()
	case src.GetVolume() != nil:
		return "volume:" + src.GetVolume().GetVolumeId()
	}
	return ""
}

// CreateVolume makes a volume: the resource group of its class, a
// resource definition named for the request (so a retry finds it), a volume
// definition (or a snapshot's, restored), and replicas placed by the
// controller's autoplacer within the topology asked for.
func (d *Driver) CreateVolume(ctx context.Context, req *csipb.CreateVolumeRequest) (*csipb.CreateVolumeResponse, error) {
	if req.GetName() == "" {
		return nil, status.Error(codes.InvalidArgument, "name is required")
	}
	if err := validateCapabilities(req.GetVolumeCapabilities()); err != nil {
		return nil, err
	}
	params, err := ParseParameters(req.GetParameters())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	sizeKiB, err := requestedKiB(req.GetCapacityRange())
	if err != nil {
		return nil, err
	}
	id := d.volumeID(req.GetName(), params, req.GetParameters())
	unlock, err := d.volumeLocks.lock(ctx, id)
	if err != nil {
		return nil, status.FromContextError(err).Err()
	}
	defer unlock()
	log := d.log.With("volume", id, "name", req.GetName())
	source := contentSourceKey(req.GetVolumeContentSource())

	created := false
	rd, err := d.lc.ResourceDefinitions.Get(ctx, id)
	switch {
	case err == nil:
		if isDeleting(rd.Flags) || isDeletedVolume(rd.Props) {
			return nil, status.Errorf(codes.Aborted, "volume %s is being deleted (its storage stays until its snapshots are deleted)", id)
		}
		if rd.Props[propSource] != source {
			return nil, status.Errorf(codes.AlreadyExists, "volume %s exists with source %q, not %q", id, rd.Props[propSource], source)
		}
		if err := d.checkExistingSize(ctx, id, req.GetCapacityRange()); err != nil {
			return nil, err
		}
	case notFound(err):
		log.Info("creating volume", "sizeKiB", sizeKiB, "resourceGroup", params.ResourceGroup, "source", source)
		if err := d.reconcileResourceGroup(ctx, &params); err != nil {
			return nil, err
		}
		if err := d.createDefinition(ctx, id, &params, sizeKiB, fsTypeOf(req.GetVolumeCapabilities()), req.GetVolumeContentSource()); err != nil {
			d.rollback(id, log)
			return nil, err
		}
		created = true
	default:
		return nil, grpcError(err, "get volume %s", id)
	}
	if err := d.place(ctx, id, &params, req.GetAccessibilityRequirements()); err != nil {
		if created {
			// Never handed out: remove it, so a retry (perhaps with
			// another topology) starts clean.
			d.rollback(id, log)
		}
		return nil, err
	}
	return d.createResponse(ctx, id, &params, req)
}

// volumeID is the LINSTOR name of a new volume: from the PVC's namespace
// and name when usePvcName is set and the provisioner passed them, else
// from the request's name.
func (d *Driver) volumeID(name string, params Parameters, raw map[string]string) string {
	if params.UsePvcName {
		ns, pvc := raw["csi.storage.k8s.io/pvc/namespace"], raw["csi.storage.k8s.io/pvc/name"]
		if ns != "" && pvc != "" {
			return linstorName(ns + "-" + pvc)
		}
	}
	return linstorName(name)
}

// checkExistingSize refuses a retry whose size the existing volume does not fit.
func (d *Driver) checkExistingSize(ctx context.Context, id string, r *csipb.CapacityRange) error {
	vds, err := d.lc.ResourceDefinitions.GetVolumeDefinitions(ctx, id)
	if err != nil {
		return grpcError(err, "get volume definitions of %s", id)
	}
	if len(vds) == 0 {
		return status.Errorf(codes.Aborted, "volume %s has no volume definition yet (a create is in progress or failed half-way)", id)
	}
	have := int64(vds[0].SizeKib) * kib
	if have < r.GetRequiredBytes() || (r.GetLimitBytes() > 0 && have > r.GetLimitBytes()) {
		return status.Errorf(codes.AlreadyExists, "volume %s exists with %d bytes, which does not fit the capacity range [%d, %d]",
			id, have, r.GetRequiredBytes(), r.GetLimitBytes())
	}
	return nil
}

// reconcileResourceGroup creates the class's resource group or brings its
// select filter and properties to the parameters. A property the group
// already has with another value is a conflict, as upstream. Concurrent
// creates with the same group and parameters (a burst of claims of one
// StorageClass) share one reconcile: fifty would otherwise race to create
// the group, and all but one would conflict and read again.
func (d *Driver) reconcileResourceGroup(ctx context.Context, p *Parameters) error {
	key := fmt.Sprintf("%s\x00%v\x00%+v", p.ResourceGroup, p.Properties, p.selectFilter())
	_, err, _ := d.groups.Do(key, func() (any, error) { return nil, d.reconcileGroupNow(ctx, p) })
	return err
}

func (d *Driver) reconcileGroupNow(ctx context.Context, p *Parameters) error {
	rg, err := d.lc.ResourceGroups.Get(ctx, p.ResourceGroup)
	if notFound(err) {
		rg = lapi.ResourceGroup{Name: p.ResourceGroup, Props: p.Properties, SelectFilter: p.selectFilter()}
		err = d.lc.ResourceGroups.Create(ctx, rg)
		if err != nil && !lapi.IsApiCallError(err, linstor.FailExistsRscGrp) {
			return grpcError(err, "create resource group %s", p.ResourceGroup)
		}
		err = retryNotFound(ctx, func() error {
			return d.lc.ResourceGroups.CreateVolumeGroup(ctx, p.ResourceGroup, lapi.VolumeGroup{})
		})
		if err != nil && !lapi.IsApiCallError(err, linstor.FailExistsVlmGrp) {
			return grpcError(err, "create volume group of %s", p.ResourceGroup)
		}
		return nil
	}
	if err != nil {
		return grpcError(err, "get resource group %s", p.ResourceGroup)
	}
	modify := lapi.ResourceGroupModify{OverrideProps: map[string]string{}}
	for k, v := range p.Properties {
		old, ok := rg.Props[k]
		if ok && old != v {
			return status.Errorf(codes.InvalidArgument, "resource group %s has property %s=%q; the class asks for %q", p.ResourceGroup, k, old, v)
		}
		if !ok {
			modify.OverrideProps[k] = v
		}
	}
	want := p.selectFilter()
	changed := len(modify.OverrideProps) > 0
	if !selectFilterEqual(rg.SelectFilter, want) {
		modify.SelectFilter, changed = want, true
	}
	if !changed {
		return nil
	}
	return grpcError(d.lc.ResourceGroups.Modify(ctx, p.ResourceGroup, modify), "update resource group %s", p.ResourceGroup)
}

// selectFilter is the autoplacer's filter for the parameters.
func (p *Parameters) selectFilter() lapi.AutoSelectFilter {
	layers := make([]string, len(p.LayerList))
	for i, l := range p.LayerList {
		layers[i] = string(l)
	}
	return lapi.AutoSelectFilter{
		PlaceCount:           p.PlacementCount,
		StoragePoolList:      p.StoragePools,
		ReplicasOnSame:       p.ReplicasOnSame,
		ReplicasOnDifferent:  p.ReplicasOnDifferent,
		XReplicasOnDifferent: p.XReplicasOnDifferent,
		NotPlaceWithRscRegex: p.DoNotPlaceWithRegex,
		LayerStack:           layers,
		DisklessOnRemaining:  p.DisklessOnRemaining,
	}
}

func selectFilterEqual(a, b lapi.AutoSelectFilter) bool {
	return a.PlaceCount == b.PlaceCount && slices.Equal(a.StoragePoolList, b.StoragePoolList) &&
		slices.Equal(a.ReplicasOnSame, b.ReplicasOnSame) && slices.Equal(a.ReplicasOnDifferent, b.ReplicasOnDifferent) &&
		fmt.Sprint(a.XReplicasOnDifferent) == fmt.Sprint(b.XReplicasOnDifferent) &&
		a.NotPlaceWithRscRegex == b.NotPlaceWithRscRegex && slices.Equal(a.LayerStack, b.LayerStack) &&
		a.DisklessOnRemaining == b.DisklessOnRemaining
}

// createDefinition creates the resource definition and its volume
// definition: empty, restored from a snapshot, or from a volume (through
// a snapshot of it).
func (d *Driver) createDefinition(ctx context.Context, id string, p *Parameters, sizeKiB uint64, fsType string, src *csipb.VolumeContentSource) error {
	props := map[string]string{
		propRemoteAccess: p.AllowRemoteVolumeAccess.String(),
		propLayers:       layerString(p.LayerList),
		propDisklessPool: p.DisklessStoragePool,
		propSource:       contentSourceKey(src),
	}
	if fsType != "" {
		props[propFsType] = fsType
		props[propMkfsParams] = p.FSOpts
	}
	err := d.lc.ResourceDefinitions.Create(ctx, lapi.ResourceDefinitionCreate{ResourceDefinition: lapi.ResourceDefinition{
		Name: id, ResourceGroupName: p.ResourceGroup, Props: props}})
	if err != nil {
		return grpcError(err, "create resource definition %s", id)
	}
	switch {
	case src.GetSnapshot() != nil:
		snap, err := d.findSnapshot(ctx, src.GetSnapshot().GetSnapshotId())
		if err != nil {
			return err
		}
		return d.restore(ctx, id, snap, sizeKiB)
	case src.GetVolume() != nil:
		return d.clone(ctx, id, src.GetVolume().GetVolumeId(), sizeKiB)
	}
	zero := int32(0)
	err = retryNotFound(ctx, func() error {
		return d.lc.ResourceDefinitions.CreateVolumeDefinition(ctx, id, lapi.VolumeDefinitionCreate{
			VolumeDefinition: lapi.VolumeDefinition{VolumeNumber: &zero, SizeKib: sizeKiB}})
	})
	return grpcError(err, "create volume definition of %s", id)
}

// readAfterWrite bounds how long an object just created may read as not
// found: the controller answers from its cache, which may lag its own
// write by a moment.
const readAfterWrite = 5 * time.Second

// retryNotFound calls fn until it does not fail with "not found", for
// calls on an object the driver has just created.
func retryNotFound(ctx context.Context, fn func() error) error {
	deadline := time.Now().Add(readAfterWrite)
	for {
		err := fn()
		if !notFound(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// rollbackTimeout bounds the clean-up of a failed create.
const rollbackTimeout = 30 * time.Second

// rollback deletes a volume whose creation failed half-way, so a retry
// starts clean; it runs even when the call's context has ended.
func (d *Driver) rollback(id string, log interface{ Warn(string, ...any) }) {
	ctx, cancel := context.WithTimeout(context.Background(), rollbackTimeout)
	defer cancel()
	if err := d.lc.ResourceDefinitions.Delete(ctx, id); err != nil && !notFound(err) {
		log.Warn("could not remove half-made volume", "err", err)
	}
}

func layerString(l []devicelayerkind.DeviceLayerKind) string {
	s := make([]string, len(l))
	for i, k := range l {
		s[i] = strings.ToLower(string(k))
	}
	return strings.Join(s, " ")
}

// place puts the volume's replicas: on nodeList/clientList (Manual), else
// through the autoplacer, restricted to the nodes in the requisite topology
// (preferred nodes first). It is a no-op once enough replicas exist, and
// the controller's "not enough nodes" becomes ResourceExhausted with its
// reason.
func (d *Driver) place(ctx context.Context, id string, p *Parameters, req *csipb.TopologyRequirement) error {
	if p.PlacementPolicy == plan.PolicyManual {
		return d.placeManual(ctx, id, p)
	}
	res, err := d.resources(ctx, id)
	if err != nil {
		return err
	}
	diskful := 0
	for _, r := range res {
		if !isDiskless(r.Resource) {
			diskful++
		}
	}
	if diskful >= int(p.PlacementCount) {
		return nil
	}
	if len(req.GetRequisite())+len(req.GetPreferred()) > 0 {
		// First the replicas the topology asks for: on the requisite nodes
		// (or nodes they may reach), preferred ones first, at most
		// placementCount of them.
		topo, err := d.topology(ctx)
		if err != nil {
			return err
		}
		candidates := topologyCandidates(topo, p, req)
		if len(candidates) == 0 {
			return status.Errorf(codes.ResourceExhausted, "no node in the requisite topology (or reachable from it under allowRemoteVolumeAccess %s) has a storage pool of %v",
				strings.TrimSpace(p.AllowRemoteVolumeAccess.String()), p.StoragePools)
		}
		n := min(int(p.PlacementCount), len(candidates))
		filter := lapi.AutoSelectFilter{PlaceCount: int32(n), NodeNameList: candidates}
		if diskful < n {
			err := d.lc.Resources.Autoplace(ctx, id, lapi.AutoPlaceRequest{SelectFilter: filter})
			if err != nil {
				return grpcError(err, "place %d replica(s) of %s on %v", n, id, candidates)
			}
		}
		if n == int(p.PlacementCount) {
			return nil
		}
	}
	// Then the rest by the resource group's rules, anywhere.
	err = d.lc.Resources.Autoplace(ctx, id, lapi.AutoPlaceRequest{SelectFilter: lapi.AutoSelectFilter{PlaceCount: p.PlacementCount},
		DisklessOnRemaining: p.DisklessOnRemaining})
	if err != nil {
		return grpcError(err, "place %d replica(s) of %s", p.PlacementCount, id)
	}
	return nil
}

// topologyCandidates are the nodes that have an allowed pool and lie in
// the requisite topology (all nodes without one) or, with DRBD, can be
// reached from it under allowRemoteVolumeAccess; preferred ones first, in
// their order.
func topologyCandidates(topo map[string]*nodeTopology, p *Parameters, req *csipb.TopologyRequirement) []string {
	var out []string
	inRequisite := func(t *nodeTopology) bool {
		if len(req.GetRequisite()) == 0 {
			return true
		}
		return slices.ContainsFunc(req.GetRequisite(), func(s *csipb.Topology) bool {
			return t.matches(s.GetSegments()) || (p.hasDiskless() && p.AllowRemoteVolumeAccess.Allows(s.GetSegments(), t.segments))
		})
	}
	add := func(name string) {
		t := topo[name]
		if !slices.Contains(out, name) && t.hasPool(p.StoragePools) && inRequisite(t) {
			out = append(out, name)
		}
	}
	for _, pref := range req.GetPreferred() {
		for _, name := range sortedNodes(topo) {
			if topo[name].matches(pref.GetSegments()) {
				add(name)
			}
		}
	}
	for _, name := range sortedNodes(topo) {
		add(name)
	}
	return out
}

// placeManual creates the replicas nodeList and clientList name.
func (d *Driver) placeManual(ctx context.Context, id string, p *Parameters) error {
	create := func(node string, diskless bool) error {
		rc := lapi.ResourceCreate{Resource: lapi.Resource{Name: id, NodeName: node, Props: map[string]string{}}, LayerList: p.LayerList}
		if diskless {
			rc.Resource.Flags = []string{linstor.FlagDrbdDiskless}
			rc.Resource.Props[linstor.KeyStorPoolName] = p.DisklessStoragePool
		} else if len(p.StoragePools) > 0 {
			rc.Resource.Props[linstor.KeyStorPoolName] = p.StoragePools[0]
		}
		_, err := d.lc.Resources.Get(ctx, id, node)
		if err == nil {
			return nil
		}
		if !notFound(err) {
			return grpcError(err, "get replica of %s on %s", id, node)
		}
		return grpcError(d.lc.Resources.Create(ctx, rc), "create replica of %s on %s", id, node)
	}
	for _, n := range p.NodeList {
		if err := create(n, false); err != nil {
			return err
		}
	}
	for _, n := range p.ClientList {
		if err := create(n, true); err != nil {
			return err
		}
	}
	return nil
}

// createResponse describes the volume as it now is.
func (d *Driver) createResponse(ctx context.Context, id string, p *Parameters, req *csipb.CreateVolumeRequest) (*csipb.CreateVolumeResponse, error) {
	vds, err := d.lc.ResourceDefinitions.GetVolumeDefinitions(ctx, id)
	if err != nil {
		return nil, grpcError(err, "get volume definitions of %s", id)
	}
	if len(vds) == 0 {
		return nil, status.Errorf(codes.Internal, "volume %s has no volume definition", id)
	}
	accessible, err := d.accessibleTopology(ctx, id, p.AllowRemoteVolumeAccess)
	if err != nil {
		return nil, err
	}
	vctx := map[string]string{}
	if p.FSOpts != "" {
		vctx[volCtxFSOpts] = p.FSOpts
	}
	if p.MountOpts != "" {
		vctx[volCtxMountOpts] = p.MountOpts
	}
	if p.PostMountXfsOpts != "" {
		vctx[volCtxPostMountXfsOpts] = p.PostMountXfsOpts
	}
	return &csipb.CreateVolumeResponse{Volume: &csipb.Volume{
		VolumeId:           id,
		CapacityBytes:      int64(vds[0].SizeKib) * kib,
		VolumeContext:      vctx,
		ContentSource:      req.GetVolumeContentSource(),
		AccessibleTopology: accessible,
	}}, nil
}

// Volume context keys, passed from CreateVolume to the node service.
const (
	volCtxFSOpts           = DriverName + "/fsOpts"
	volCtxMountOpts        = DriverName + "/mountOpts"
	volCtxPostMountXfsOpts = DriverName + "/postMountXfsOpts"
)

// accessibleTopology is where the volume can be used from: for each node
// with a disk, the segments the remote access policy opens. Nil means
// everywhere.
func (d *Driver) accessibleTopology(ctx context.Context, id string, policy RemoteAccessPolicy) ([]*csipb.Topology, error) {
	res, err := d.resources(ctx, id)
	if err != nil {
		return nil, err
	}
	topo, err := d.topology(ctx)
	if err != nil {
		return nil, err
	}
	var out []*csipb.Topology
	seen := map[string]bool{}
	for _, r := range res {
		t := topo[r.NodeName]
		if t == nil || isDiskless(r.Resource) {
			continue
		}
		for _, seg := range policy.AccessibleSegments(t.segments) {
			if len(seg) == 0 {
				return nil, nil // reachable from anywhere
			}
			key := fmt.Sprint(seg)
			if !seen[key] {
				seen[key] = true
				out = append(out, &csipb.Topology{Segments: seg})
			}
		}
	}
	return out, nil
}

// DeleteVolume deletes the volume with every replica; an unknown volume
// is already deleted, one in use on a node is FailedPrecondition. While
// snapshots of it exist its storage stays (they may need it): the volume is
// only marked deleted, hidden from the CSI calls, and DeleteSnapshot
// removes it with its last snapshot.
func (d *Driver) DeleteVolume(ctx context.Context, req *csipb.DeleteVolumeRequest) (*csipb.DeleteVolumeResponse, error) {
	id := req.GetVolumeId()
	if id == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id is required")
	}
	unlock, err := d.volumeLocks.lock(ctx, id)
	if err != nil {
		return nil, status.FromContextError(err).Err()
	}
	defer unlock()
	if _, err := d.lc.ResourceDefinitions.Get(ctx, id); notFound(err) {
		return &csipb.DeleteVolumeResponse{}, nil
	} else if err != nil {
		return nil, grpcError(err, "get volume %s", id)
	}
	res, err := d.resources(ctx, id)
	if err != nil {
		return nil, err
	}
	for _, r := range res {
		if r.State != nil && r.State.InUse != nil && *r.State.InUse {
			return nil, status.Errorf(codes.FailedPrecondition, "volume %s is in use on node %s", id, r.NodeName)
		}
	}
	snaps, err := d.snapshotsOf(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(snaps) > 0 {
		d.log.Info("volume deleted, its storage stays for its snapshots", "volume", id, "snapshots", len(snaps))
		err := d.lc.ResourceDefinitions.Modify(ctx, id, lapi.GenericPropsModify{OverrideProps: map[string]string{propDeleted: "true"}})
		return &csipb.DeleteVolumeResponse{}, grpcError(err, "mark volume %s deleted", id)
	}
	d.log.Info("deleting volume", "volume", id)
	if err := d.lc.ResourceDefinitions.Delete(ctx, id); err != nil && !notFound(err) {
		return nil, grpcError(err, "delete volume %s", id)
	}
	return &csipb.DeleteVolumeResponse{}, nil
}

// isDeletedVolume says whether DeleteVolume was called on the volume
// (kept for its snapshots).
func isDeletedVolume(props map[string]string) bool { return props[propDeleted] == "true" }

// ControllerPublishVolume makes the volume reachable on the node: nothing
// to do where a replica exists; elsewhere, when the volume's
// allowRemoteVolumeAccess permits and it has DRBD, a diskless replica.
func (d *Driver) ControllerPublishVolume(ctx context.Context, req *csipb.ControllerPublishVolumeRequest) (*csipb.ControllerPublishVolumeResponse, error) {
	id, node := req.GetVolumeId(), req.GetNodeId()
	if id == "" || node == "" || req.GetVolumeCapability() == nil {
		return nil, status.Error(codes.InvalidArgument, "volume_id, node_id and volume_capability are required")
	}
	if err := validateCapabilities([]*csipb.VolumeCapability{req.GetVolumeCapability()}); err != nil {
		return nil, err
	}
	unlock, err := d.volumeLocks.lock(ctx, id)
	if err != nil {
		return nil, status.FromContextError(err).Err()
	}
	defer unlock()
	rd, err := d.volume(ctx, id)
	if err != nil {
		return nil, err
	}
	n, err := d.lc.Nodes.Get(ctx, node)
	if err != nil {
		return nil, grpcError(err, "get node %s", node)
	}
	res, err := d.resources(ctx, id)
	if err != nil {
		return nil, err
	}
	if slices.ContainsFunc(res, func(r lapi.ResourceWithVolumes) bool { return r.NodeName == node }) {
		return &csipb.ControllerPublishVolumeResponse{}, nil
	}
	if err := d.remoteAccessAllowed(ctx, rd, n, res); err != nil {
		return nil, err
	}
	d.log.Info("attaching diskless replica", "volume", id, "node", node)
	rc := lapi.ResourceCreate{Resource: lapi.Resource{Name: id, NodeName: node,
		Flags: []string{linstor.FlagDrbdDiskless},
		Props: map[string]string{propCreatedFor: createdForAttach, linstor.KeyStorPoolName: disklessPool(rd)}}}
	if err := d.lc.Resources.Create(ctx, rc); err != nil && !lapi.IsApiCallError(err, linstor.FailExistsRsc) {
		return nil, grpcError(err, "create diskless replica of %s on %s", id, node)
	}
	return &csipb.ControllerPublishVolumeResponse{}, nil
}

func disklessPool(rd lapi.ResourceDefinition) string {
	if p := rd.Props[propDisklessPool]; p != "" {
		return p
	}
	return DefaultDisklessStoragePool
}

// remoteAccessAllowed says why node may not reach the volume over the network.
func (d *Driver) remoteAccessAllowed(ctx context.Context, rd lapi.ResourceDefinition, n lapi.Node, res []lapi.ResourceWithVolumes) error {
	if !strings.Contains(rd.Props[propLayers], "drbd") && rd.Props[propLayers] != "" {
		return status.Errorf(codes.FailedPrecondition, "volume %s has no replica on node %s and its layers (%s) cannot attach one without a disk",
			rd.Name, n.Name, rd.Props[propLayers])
	}
	policy := RemoteAccessAnywhere
	if s := rd.Props[propRemoteAccess]; s != "" {
		if err := policy.UnmarshalText([]byte(s)); err != nil {
			return status.Errorf(codes.Internal, "volume %s: property %s: %v", rd.Name, propRemoteAccess, err)
		}
	}
	topo, err := d.topology(ctx)
	if err != nil {
		return err
	}
	here := topo[n.Name]
	if here == nil {
		return status.Errorf(codes.NotFound, "node %s", n.Name)
	}
	for _, r := range res {
		if t := topo[r.NodeName]; t != nil && !isDiskless(r.Resource) && policy.Allows(here.segments, t.segments) {
			return nil
		}
	}
	return status.Errorf(codes.FailedPrecondition, "volume %s has no replica on node %s and allowRemoteVolumeAccess (%s) does not let it reach one",
		rd.Name, n.Name, strings.TrimSpace(policy.String()))
}

// ControllerUnpublishVolume removes a diskless replica that
// ControllerPublishVolume made; replicas with a disk stay.
func (d *Driver) ControllerUnpublishVolume(ctx context.Context, req *csipb.ControllerUnpublishVolumeRequest) (*csipb.ControllerUnpublishVolumeResponse, error) {
	id, node := req.GetVolumeId(), req.GetNodeId()
	if id == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id is required")
	}
	unlock, err := d.volumeLocks.lock(ctx, id)
	if err != nil {
		return nil, status.FromContextError(err).Err()
	}
	defer unlock()
	res, err := d.resources(ctx, id)
	if err != nil {
		return nil, err
	}
	for _, r := range res {
		if (node == "" || r.NodeName == node) && r.Props[propCreatedFor] == createdForAttach && isDiskless(r.Resource) {
			d.log.Info("removing diskless replica", "volume", id, "node", r.NodeName)
			if err := d.lc.Resources.Delete(ctx, id, r.NodeName); err != nil && !notFound(err) {
				return nil, grpcError(err, "delete diskless replica of %s on %s", id, r.NodeName)
			}
		}
	}
	return &csipb.ControllerUnpublishVolumeResponse{}, nil
}

// ValidateVolumeCapabilities confirms the capabilities the driver supports.
func (d *Driver) ValidateVolumeCapabilities(ctx context.Context, req *csipb.ValidateVolumeCapabilitiesRequest) (*csipb.ValidateVolumeCapabilitiesResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id is required")
	}
	if len(req.GetVolumeCapabilities()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "volume_capabilities are required")
	}
	if _, err := d.volume(ctx, req.GetVolumeId()); err != nil {
		return nil, err
	}
	if err := validateCapabilities(req.GetVolumeCapabilities()); err != nil {
		return &csipb.ValidateVolumeCapabilitiesResponse{Message: status.Convert(err).Message()}, nil
	}
	return &csipb.ValidateVolumeCapabilitiesResponse{Confirmed: &csipb.ValidateVolumeCapabilitiesResponse_Confirmed{
		VolumeContext: req.GetVolumeContext(), VolumeCapabilities: req.GetVolumeCapabilities(), Parameters: req.GetParameters()}}, nil
}

// ControllerExpandVolume grows the volume definition; the filesystem grows
// on the node (NodeExpandVolume).
func (d *Driver) ControllerExpandVolume(ctx context.Context, req *csipb.ControllerExpandVolumeRequest) (*csipb.ControllerExpandVolumeResponse, error) {
	id := req.GetVolumeId()
	if id == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id is required")
	}
	sizeKiB, err := requestedKiB(req.GetCapacityRange())
	if err != nil {
		return nil, err
	}
	unlock, err := d.volumeLocks.lock(ctx, id)
	if err != nil {
		return nil, status.FromContextError(err).Err()
	}
	defer unlock()
	if _, err := d.volume(ctx, id); err != nil {
		return nil, err
	}
	vds, err := d.volumeDefinitions(ctx, id)
	if err != nil {
		return nil, err
	}
	if vds[0].SizeKib < sizeKiB {
		d.log.Info("expanding volume", "volume", id, "fromKiB", vds[0].SizeKib, "toKiB", sizeKiB)
		err := d.lc.ResourceDefinitions.ModifyVolumeDefinition(ctx, id, int(volNumber(vds[0])), lapi.VolumeDefinitionModify{SizeKib: sizeKiB})
		if err != nil {
			return nil, grpcError(err, "expand volume %s to %d KiB", id, sizeKiB)
		}
	} else {
		sizeKiB = vds[0].SizeKib
	}
	block := req.GetVolumeCapability().GetBlock() != nil
	return &csipb.ControllerExpandVolumeResponse{CapacityBytes: int64(sizeKiB) * kib, NodeExpansionRequired: !block}, nil
}

func volNumber(vd lapi.VolumeDefinition) int32 {
	if vd.VolumeNumber == nil {
		return 0
	}
	return *vd.VolumeNumber
}

// GetCapacity is the largest free space of one allowed pool on a node in
// the segment (all nodes without one): the biggest volume that fits.
func (d *Driver) GetCapacity(ctx context.Context, req *csipb.GetCapacityRequest) (*csipb.GetCapacityResponse, error) {
	params, err := ParseParameters(req.GetParameters())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	topo, err := d.topology(ctx)
	if err != nil {
		return nil, err
	}
	var best int64
	for _, name := range sortedNodes(topo) {
		t := topo[name]
		if seg := req.GetAccessibleTopology().GetSegments(); len(seg) > 0 && !t.matches(seg) {
			continue
		}
		for pname, p := range t.pools {
			if p.ProviderKind == lapi.DISKLESS || (len(params.StoragePools) > 0 && !slices.Contains(params.StoragePools, pname)) {
				continue
			}
			best = max(best, freeKiB(p, params.OverProvision)*kib)
		}
	}
	return &csipb.GetCapacityResponse{AvailableCapacity: best}, nil
}

// freeKiB is a pool's free space; with overProvision, total times the
// ratio minus what is used, at most what an int64 of bytes holds (the
// parser accepts any finite factor, and a float too large for an int64
// would convert to nonsense).
func freeKiB(p lapi.StoragePool, overProvision *float64) int64 {
	if overProvision == nil {
		return max(p.FreeCapacity, 0)
	}
	used := float64(p.TotalCapacity - p.FreeCapacity)
	free := float64(p.TotalCapacity)**overProvision - used
	return int64(max(min(free, math.MaxInt64/kib), 0))
}

// ListVolumes lists volumes in name order, max_entries at a time; the
// token is the index of the next entry.
func (d *Driver) ListVolumes(ctx context.Context, req *csipb.ListVolumesRequest) (*csipb.ListVolumesResponse, error) {
	rds, err := d.lc.ResourceDefinitions.GetAll(ctx, lapi.RDGetAllRequest{WithVolumeDefinitions: true})
	if err != nil {
		return nil, grpcError(err, "list volumes")
	}
	rds = slices.DeleteFunc(rds, func(r lapi.ResourceDefinitionWithVolumeDefinition) bool {
		return len(r.VolumeDefinitions) == 0 || isDeleting(r.Flags) || isDeletedVolume(r.Props)
	})
	slices.SortFunc(rds, func(a, b lapi.ResourceDefinitionWithVolumeDefinition) int { return strings.Compare(a.Name, b.Name) })
	start, end, next, err := page(len(rds), req.GetStartingToken(), req.GetMaxEntries())
	if err != nil {
		return nil, err
	}
	resp := &csipb.ListVolumesResponse{NextToken: next}
	for _, rd := range rds[start:end] {
		resp.Entries = append(resp.Entries, &csipb.ListVolumesResponse_Entry{Volume: &csipb.Volume{
			VolumeId: rd.Name, CapacityBytes: int64(rd.VolumeDefinitions[0].SizeKib) * kib}})
	}
	return resp, nil
}

// page turns a starting token and max entries into a slice range and the
// next token; a token that is not an index in range is Aborted, as the
// spec asks.
func page(n int, token string, maxEntries int32) (start, end int, next string, err error) {
	if maxEntries < 0 {
		return 0, 0, "", status.Error(codes.InvalidArgument, "max_entries must not be negative")
	}
	if token != "" {
		start, err = strconv.Atoi(token)
		if err != nil || start < 0 || start > n {
			return 0, 0, "", status.Errorf(codes.Aborted, "starting_token %q is not a valid position", token)
		}
	}
	end = n
	if maxEntries > 0 && start+int(maxEntries) < n {
		end = start + int(maxEntries)
		next = strconv.Itoa(end)
	}
	return start, end, next, nil
}

// ControllerGetVolume reports the volume with the nodes it is on.
func (d *Driver) ControllerGetVolume(ctx context.Context, req *csipb.ControllerGetVolumeRequest) (*csipb.ControllerGetVolumeResponse, error) {
	id := req.GetVolumeId()
	if id == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id is required")
	}
	if _, err := d.volume(ctx, id); err != nil {
		return nil, err
	}
	vds, err := d.volumeDefinitions(ctx, id)
	if err != nil {
		return nil, err
	}
	res, err := d.resources(ctx, id)
	if err != nil {
		return nil, err
	}
	var nodes []string
	for _, r := range res {
		nodes = append(nodes, r.NodeName)
	}
	slices.Sort(nodes)
	return &csipb.ControllerGetVolumeResponse{
		Volume: &csipb.Volume{VolumeId: id, CapacityBytes: int64(vds[0].SizeKib) * kib},
		Status: &csipb.ControllerGetVolumeResponse_VolumeStatus{PublishedNodeIds: nodes},
	}, nil
}

// ControllerGetVolumeHealth reports the volume's condition from every
// replica: degraded while a replica with a disk is not up to date,
// inaccessible without replicas.
func (d *Driver) ControllerGetVolumeHealth(ctx context.Context, req *csipb.ControllerGetVolumeHealthRequest) (*csipb.ControllerGetVolumeHealthResponse, error) {
	id := req.GetVolumeId()
	if id == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id is required")
	}
	h, err := d.health(ctx, id, "")
	if err != nil {
		return nil, err
	}
	return &csipb.ControllerGetVolumeHealthResponse{VolumeHealth: h}, nil
}

// ControllerListVolumeHealth reports every volume's condition, in name
// order, max_entries at a time.
func (d *Driver) ControllerListVolumeHealth(ctx context.Context, req *csipb.ControllerListVolumeHealthRequest) (*csipb.ControllerListVolumeHealthResponse, error) {
	rds, err := d.lc.ResourceDefinitions.GetAll(ctx, lapi.RDGetAllRequest{})
	if err != nil {
		return nil, grpcError(err, "list volumes")
	}
	all, err := d.lc.Resources.GetResourceView(ctx)
	if err != nil {
		return nil, grpcError(err, "list replicas")
	}
	byVolume := map[string][]lapi.ResourceWithVolumes{}
	for _, r := range all {
		byVolume[r.Name] = append(byVolume[r.Name], r)
	}
	names := make([]string, 0, len(rds))
	for _, rd := range rds {
		if !isDeleting(rd.Flags) && !isDeletedVolume(rd.Props) {
			names = append(names, rd.Name)
		}
	}
	slices.Sort(names)
	start, end, next, err := page(len(names), req.GetStartingToken(), req.GetMaxEntries())
	if err != nil {
		return nil, err
	}
	resp := &csipb.ControllerListVolumeHealthResponse{NextToken: next}
	for _, n := range names[start:end] {
		resp.Entries = append(resp.Entries, volumeHealth(n, byVolume[n], ""))
	}
	return resp, nil
}

// badDiskStates are DRBD disk states of a replica that cannot serve its data.
var badDiskStates = []string{"Failed", "Outdated", "Inconsistent", "DUnknown", "Detaching", "Attaching"}

// volumeHealth is the volume's condition from its replicas (the one on
// node only, when node is set). No entries means healthy.
func volumeHealth(id string, res []lapi.ResourceWithVolumes, node string) *csipb.VolumeHealth {
	h := &csipb.VolumeHealth{VolumeId: id}
	found := false
	for _, r := range res {
		if node != "" && r.NodeName != node {
			continue
		}
		found = true
		for _, v := range r.Volumes {
			if slices.Contains(badDiskStates, v.State.DiskState) {
				h.HealthStatuses = append(h.HealthStatuses, &csipb.VolumeHealth_VolumeHealthEntry{
					Status: csipb.VolumeHealthErrorType_DEGRADED, Reason: "Disk" + v.State.DiskState,
					Message: fmt.Sprintf("replica on %s is %s", r.NodeName, v.State.DiskState)})
			}
		}
	}
	if !found {
		msg := "the volume has no replica"
		if node != "" {
			msg = "no replica on node " + node
		}
		h.HealthStatuses = append(h.HealthStatuses, &csipb.VolumeHealth_VolumeHealthEntry{
			Status: csipb.VolumeHealthErrorType_INACCESSIBLE, Reason: "NoReplica", Message: msg})
	}
	return h
}

// volumeDefinitions returns the volume's definitions; NotFound when it has none.
func (d *Driver) volumeDefinitions(ctx context.Context, id string) ([]lapi.VolumeDefinition, error) {
	vds, err := d.lc.ResourceDefinitions.GetVolumeDefinitions(ctx, id)
	if err != nil {
		return nil, grpcError(err, "get volume %s", id)
	}
	if len(vds) == 0 {
		return nil, status.Errorf(codes.NotFound, "volume %s has no volume definition", id)
	}
	return vds, nil
}

// health is the volume's health from its replicas: every replica's, or
// only node's when node is set.
func (d *Driver) health(ctx context.Context, id, node string) (*csipb.VolumeHealth, error) {
	if _, err := d.volume(ctx, id); err != nil {
		return nil, err
	}
	res, err := d.resources(ctx, id)
	if err != nil {
		return nil, err
	}
	return volumeHealth(id, res, node), nil
}
