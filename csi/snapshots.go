package csi

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	linstor "github.com/LINBIT/golinstor"
	lapi "github.com/LINBIT/golinstor/client"
	csipb "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// SnapshotParameterNamespace prefixes VolumeSnapshotClass parameters, as
// linstor-csi spells it.
const SnapshotParameterNamespace = "snap." + DriverName

// snapshotReadyTimeout bounds the wait for a snapshot to be taken on
// every node before it is restored or cloned from.
const snapshotReadyTimeout = 2 * time.Minute

// parseSnapshotParameters accepts linstor-csi's snapshot parameters that
// mean an in-cluster snapshot; shipping to remotes (S3, LINSTOR) is refused
// by name. Keys of other namespaces are ignored.
func parseSnapshotParameters(params map[string]string) error {
	for k, v := range params {
		ns, key, _ := strings.Cut(k, "/")
		if ns != SnapshotParameterNamespace {
			continue
		}
		if strings.EqualFold(key, "type") && strings.EqualFold(v, "in-cluster") {
			continue
		}
		return fmt.Errorf("snapshot parameter %q=%q: only type in-cluster is supported (no remote shipping)", k, v)
	}
	return nil
}

// snapshotView lists every snapshot.
func (d *Driver) snapshotView(ctx context.Context) ([]lapi.Snapshot, error) {
	snaps, err := d.lc.Resources.GetSnapshotView(ctx)
	if err != nil {
		return nil, grpcError(err, "list snapshots")
	}
	return snaps, nil
}

// snapshotsOf lists the volume's snapshots.
func (d *Driver) snapshotsOf(ctx context.Context, id string) ([]lapi.Snapshot, error) {
	snaps, err := d.snapshotView(ctx)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(snaps, func(s lapi.Snapshot) bool { return s.ResourceName != id }), nil
}

// findSnapshot finds a snapshot by its CSI id (its LINSTOR name; the
// driver keeps snapshot names unique across volumes).
func (d *Driver) findSnapshot(ctx context.Context, snapID string) (lapi.Snapshot, error) {
	snaps, err := d.snapshotView(ctx)
	if err != nil {
		return lapi.Snapshot{}, err
	}
	for _, s := range snaps {
		if s.Name == snapID {
			return s, nil
		}
	}
	return lapi.Snapshot{}, status.Errorf(codes.NotFound, "snapshot %s", snapID)
}

// csiSnapshot describes a LINSTOR snapshot.
func csiSnapshot(s lapi.Snapshot) *csipb.Snapshot {
	out := &csipb.Snapshot{SnapshotId: s.Name, SourceVolumeId: s.ResourceName, ReadyToUse: isReady(s)}
	if len(s.VolumeDefinitions) > 0 {
		out.SizeBytes = int64(s.VolumeDefinitions[0].SizeKib) * kib
	}
	var created time.Time
	for _, n := range s.Snapshots {
		if n.CreateTimestamp != nil && (created.IsZero() || n.CreateTimestamp.Before(created)) {
			created = n.CreateTimestamp.Time
		}
	}
	if !created.IsZero() {
		out.CreationTime = timestamppb.New(created)
	}
	return out
}

func isReady(s lapi.Snapshot) bool { return slices.Contains(s.Flags, linstor.FlagSuccessful) }

// CreateSnapshot takes a snapshot of the volume on every node with a disk.
// A snapshot of the same name of another volume is AlreadyExists.
func (d *Driver) CreateSnapshot(ctx context.Context, req *csipb.CreateSnapshotRequest) (*csipb.CreateSnapshotResponse, error) {
	if req.GetName() == "" || req.GetSourceVolumeId() == "" {
		return nil, status.Error(codes.InvalidArgument, "name and source_volume_id are required")
	}
	if err := parseSnapshotParameters(req.GetParameters()); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	snapID, src := linstorName(req.GetName()), req.GetSourceVolumeId()
	unlock, err := d.volumeLocks.lock(ctx, src)
	if err != nil {
		return nil, status.FromContextError(err).Err()
	}
	defer unlock()
	existing, err := d.findSnapshot(ctx, snapID)
	switch {
	case err == nil:
		if existing.ResourceName != src {
			return nil, status.Errorf(codes.AlreadyExists, "snapshot %s exists for volume %s, not %s", snapID, existing.ResourceName, src)
		}
		return &csipb.CreateSnapshotResponse{Snapshot: csiSnapshot(existing)}, nil
	case status.Code(err) != codes.NotFound:
		return nil, err
	}
	if _, err := d.lc.ResourceDefinitions.Get(ctx, src); err != nil {
		return nil, grpcError(err, "get volume %s", src)
	}
	d.log.Info("creating snapshot", "snapshot", snapID, "volume", src)
	if err := d.lc.Resources.CreateSnapshot(ctx, lapi.Snapshot{Name: snapID, ResourceName: src}); err != nil {
		return nil, grpcError(err, "snapshot %s of %s", snapID, src)
	}
	snap, err := d.lc.Resources.GetSnapshot(ctx, src, snapID)
	if err != nil {
		return nil, grpcError(err, "get snapshot %s of %s", snapID, src)
	}
	return &csipb.CreateSnapshotResponse{Snapshot: csiSnapshot(snap)}, nil
}

// DeleteSnapshot deletes the snapshot on every node; an unknown one is
// already deleted.
func (d *Driver) DeleteSnapshot(ctx context.Context, req *csipb.DeleteSnapshotRequest) (*csipb.DeleteSnapshotResponse, error) {
	if req.GetSnapshotId() == "" {
		return nil, status.Error(codes.InvalidArgument, "snapshot_id is required")
	}
	snap, err := d.findSnapshot(ctx, req.GetSnapshotId())
	if status.Code(err) == codes.NotFound {
		return &csipb.DeleteSnapshotResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	unlock, err := d.volumeLocks.lock(ctx, snap.ResourceName)
	if err != nil {
		return nil, status.FromContextError(err).Err()
	}
	defer unlock()
	d.log.Info("deleting snapshot", "snapshot", snap.Name, "volume", snap.ResourceName)
	if err := d.lc.Resources.DeleteSnapshot(ctx, snap.ResourceName, snap.Name); err != nil && !notFound(err) {
		return nil, grpcError(err, "delete snapshot %s of %s", snap.Name, snap.ResourceName)
	}
	return &csipb.DeleteSnapshotResponse{}, nil
}

// ListSnapshots lists snapshots (one, or those of one volume) in
// (volume, name) order, max_entries at a time.
func (d *Driver) ListSnapshots(ctx context.Context, req *csipb.ListSnapshotsRequest) (*csipb.ListSnapshotsResponse, error) {
	snaps, err := d.snapshotView(ctx)
	if err != nil {
		return nil, err
	}
	snaps = slices.DeleteFunc(snaps, func(s lapi.Snapshot) bool {
		return (req.GetSnapshotId() != "" && s.Name != req.GetSnapshotId()) ||
			(req.GetSourceVolumeId() != "" && s.ResourceName != req.GetSourceVolumeId()) || isDeleting(s.Flags)
	})
	slices.SortFunc(snaps, func(a, b lapi.Snapshot) int {
		if c := strings.Compare(a.ResourceName, b.ResourceName); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	start, end, next, err := page(len(snaps), req.GetStartingToken(), req.GetMaxEntries())
	if err != nil {
		return nil, err
	}
	resp := &csipb.ListSnapshotsResponse{NextToken: next}
	for _, s := range snaps[start:end] {
		resp.Entries = append(resp.Entries, &csipb.ListSnapshotsResponse_Entry{Snapshot: csiSnapshot(s)})
	}
	return resp, nil
}

// restore fills the resource definition id from the snapshot: its volume
// definition (grown to sizeKiB if asked), then its replicas on the nodes
// that hold the snapshot.
func (d *Driver) restore(ctx context.Context, id string, snap lapi.Snapshot, sizeKiB uint64) error {
	snap, err := d.waitSnapshotReady(ctx, snap)
	if err != nil {
		return err
	}
	if len(snap.VolumeDefinitions) > 0 && snap.VolumeDefinitions[0].SizeKib > sizeKiB {
		sizeKiB = snap.VolumeDefinitions[0].SizeKib
	}
	d.log.Info("restoring snapshot", "volume", id, "snapshot", snap.Name, "from", snap.ResourceName)
	to := lapi.SnapshotRestore{ToResource: id}
	if err := d.lc.Resources.RestoreVolumeDefinitionSnapshot(ctx, snap.ResourceName, snap.Name, to); err != nil {
		return grpcError(err, "restore volume definition of snapshot %s into %s", snap.Name, id)
	}
	vds, err := d.lc.ResourceDefinitions.GetVolumeDefinitions(ctx, id)
	if err != nil {
		return grpcError(err, "get volume definitions of %s", id)
	}
	for _, vd := range vds {
		if vd.SizeKib < sizeKiB {
			err := d.lc.ResourceDefinitions.ModifyVolumeDefinition(ctx, id, int(volNumber(vd)), lapi.VolumeDefinitionModify{SizeKib: sizeKiB})
			if err != nil {
				return grpcError(err, "grow restored volume %s to %d KiB", id, sizeKiB)
			}
		}
	}
	to.Nodes = snap.Nodes
	return grpcError(d.lc.Resources.RestoreSnapshot(ctx, snap.ResourceName, snap.Name, to), "restore snapshot %s into %s", snap.Name, id)
}

// waitSnapshotReady waits until the snapshot is taken on every node.
func (d *Driver) waitSnapshotReady(ctx context.Context, snap lapi.Snapshot) (lapi.Snapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, snapshotReadyTimeout)
	defer cancel()
	for !isReady(snap) {
		select {
		case <-ctx.Done():
			return snap, status.Errorf(codes.Unavailable, "snapshot %s of %s is not ready (flags %v)", snap.Name, snap.ResourceName, snap.Flags)
		case <-time.After(500 * time.Millisecond):
		}
		s, err := d.lc.Resources.GetSnapshot(ctx, snap.ResourceName, snap.Name)
		if err != nil {
			return snap, grpcError(err, "get snapshot %s of %s", snap.Name, snap.ResourceName)
		}
		snap = s
	}
	return snap, nil
}

// clone fills the resource definition id with a copy of the volume src:
// a snapshot of src, restored into id, then deleted.
func (d *Driver) clone(ctx context.Context, id, src string, sizeKiB uint64) error {
	if _, err := d.lc.ResourceDefinitions.Get(ctx, src); err != nil {
		return grpcError(err, "get source volume %s", src)
	}
	tmp := lapi.Snapshot{Name: linstorName("clone-for-" + id), ResourceName: src}
	if err := d.lc.Resources.CreateSnapshot(ctx, tmp); err != nil && !lapi.IsApiCallError(err, linstor.FailExistsSnapshotDfn) {
		return grpcError(err, "snapshot %s to clone it", src)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), rollbackTimeout)
		defer cancel()
		if err := d.lc.Resources.DeleteSnapshot(ctx, src, tmp.Name); err != nil && !notFound(err) {
			d.log.Warn("could not delete the clone's snapshot", "snapshot", tmp.Name, "volume", src, "err", err)
		}
	}()
	snap, err := d.lc.Resources.GetSnapshot(ctx, src, tmp.Name)
	if err != nil {
		return grpcError(err, "get snapshot %s of %s", tmp.Name, src)
	}
	return d.restore(ctx, id, snap, sizeKiB)
}
