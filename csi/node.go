package csi

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	csipb "github.com/container-storage-interface/spec/lib/go/csi"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/mount-utils"
)

// defaultFsType is the filesystem made when the capability names none.
const defaultFsType = "ext4"

// NodeGetCapabilities lists the node RPCs the driver implements.
func (d *Driver) NodeGetCapabilities(context.Context, *csipb.NodeGetCapabilitiesRequest) (*csipb.NodeGetCapabilitiesResponse, error) {
	var caps []*csipb.NodeServiceCapability
	for _, t := range []csipb.NodeServiceCapability_RPC_Type{
		csipb.NodeServiceCapability_RPC_STAGE_UNSTAGE_VOLUME,
		csipb.NodeServiceCapability_RPC_GET_VOLUME_STATS,
		csipb.NodeServiceCapability_RPC_EXPAND_VOLUME,
		csipb.NodeServiceCapability_RPC_GET_VOLUME_HEALTH,
	} {
		caps = append(caps, &csipb.NodeServiceCapability{Type: &csipb.NodeServiceCapability_Rpc{
			Rpc: &csipb.NodeServiceCapability_RPC{Type: t}}})
	}
	return &csipb.NodeGetCapabilitiesResponse{Capabilities: caps}, nil
}

// NodeGetInfo names the node and its topology: linbit.com/hostname, a
// linbit.com/sp-<pool> key per storage pool, and the node's Aux/ properties.
func (d *Driver) NodeGetInfo(ctx context.Context, _ *csipb.NodeGetInfoRequest) (*csipb.NodeGetInfoResponse, error) {
	n, err := d.lc.Nodes.Get(ctx, d.opts.NodeName)
	if err != nil {
		return nil, grpcError(err, "get node %s", d.opts.NodeName)
	}
	pools, err := d.lc.Nodes.GetStoragePools(ctx, d.opts.NodeName)
	if err != nil {
		return nil, grpcError(err, "get storage pools of %s", d.opts.NodeName)
	}
	t := newNodeTopology(n, pools)
	return &csipb.NodeGetInfoResponse{NodeId: d.opts.NodeName, AccessibleTopology: &csipb.Topology{Segments: t.segments}}, nil
}

// devicePath is the volume's block device on this node, as the controller
// reports it.
func (d *Driver) devicePath(ctx context.Context, id string) (string, error) {
	res, err := d.resources(ctx, id)
	if err != nil {
		return "", err
	}
	if len(res) == 0 {
		if _, err := d.volume(ctx, id); err != nil {
			return "", err
		}
	}
	for _, r := range res {
		if r.NodeName != d.opts.NodeName {
			continue
		}
		for _, v := range r.Volumes {
			if v.DevicePath != "" {
				return v.DevicePath, nil
			}
		}
		return "", status.Errorf(codes.Unavailable, "volume %s on node %s has no device path yet", id, d.opts.NodeName)
	}
	return "", status.Errorf(codes.FailedPrecondition, "volume %s has no replica on node %s (not published here)", id, d.opts.NodeName)
}

// NodeStageVolume makes a filesystem on the device when it holds none (with
// fsOpts) and mounts it on the staging path (with mountOpts). A device
// holding another filesystem is refused, never formatted. Block volumes
// need no staging.
func (d *Driver) NodeStageVolume(ctx context.Context, req *csipb.NodeStageVolumeRequest) (*csipb.NodeStageVolumeResponse, error) {
	id, target, vc := req.GetVolumeId(), req.GetStagingTargetPath(), req.GetVolumeCapability()
	if id == "" || target == "" || vc == nil {
		return nil, status.Error(codes.InvalidArgument, "volume_id, staging_target_path and volume_capability are required")
	}
	if err := validateCapabilities([]*csipb.VolumeCapability{vc}); err != nil {
		return nil, err
	}
	unlock, err := d.volumeLocks.lock(ctx, id)
	if err != nil {
		return nil, status.FromContextError(err).Err()
	}
	defer unlock()
	dev, err := d.devicePath(ctx, id)
	if err != nil {
		return nil, err
	}
	if vc.GetBlock() != nil {
		return &csipb.NodeStageVolumeResponse{}, nil
	}
	if err := os.MkdirAll(target, 0o750); err != nil {
		return nil, status.Errorf(codes.Internal, "staging path %s: %v", target, err)
	}
	if mounted, err := d.isMounted(target); err != nil {
		return nil, err
	} else if mounted {
		return &csipb.NodeStageVolumeResponse{}, nil
	}
	fsType := vc.GetMount().GetFsType()
	if fsType == "" {
		fsType = defaultFsType
	}
	vctx := req.GetVolumeContext()
	opts := mountOptions(fsType, vc.GetMount().GetMountFlags(), vctx[volCtxMountOpts], readOnlyMode(vc))
	fsOpts := strings.Fields(vctx[volCtxFSOpts])
	d.log.Info("staging volume", "volume", id, "device", dev, "path", target, "fsType", fsType, "options", opts, "fsOpts", fsOpts)
	if err := d.mounter.FormatAndMountSensitiveWithFormatOptions(dev, target, fsType, opts, nil, fsOpts); err != nil {
		var me mount.MountError
		if errors.As(err, &me) && me.Type == mount.FilesystemMismatch {
			return nil, status.Errorf(codes.FailedPrecondition, "volume %s: device %s holds another filesystem, refusing to format it as %s: %v", id, dev, fsType, err)
		}
		return nil, status.Errorf(codes.Internal, "format and mount %s on %s: %v", dev, target, err)
	}
	if xfsOpts := vctx[volCtxPostMountXfsOpts]; xfsOpts != "" && fsType == "xfs" {
		if out, err := exec.CommandContext(ctx, "xfs_io", "-c", xfsOpts, target).CombinedOutput(); err != nil {
			return nil, status.Errorf(codes.Internal, "xfs_io -c %q %s: %v: %s", xfsOpts, target, err, out)
		}
	}
	return &csipb.NodeStageVolumeResponse{}, nil
}

// mountOptions are a capability's mount flags plus the class's mountOpts.
// XFS gets nouuid: a volume restored from a snapshot or cloned has the
// same filesystem UUID as its source, and XFS refuses to mount a second
// filesystem with a UUID already mounted.
func mountOptions(fsType string, flags []string, classOpts string, readOnly bool) []string {
	opts := slices.Clone(flags)
	for _, o := range strings.Split(classOpts, ",") {
		if o = strings.TrimSpace(o); o != "" && !slices.Contains(opts, o) {
			opts = append(opts, o)
		}
	}
	if fsType == "xfs" && !slices.Contains(opts, "nouuid") {
		opts = append(opts, "nouuid")
	}
	if readOnly && !slices.Contains(opts, "ro") {
		opts = append(opts, "ro")
	}
	return opts
}

func readOnlyMode(vc *csipb.VolumeCapability) bool {
	m := vc.GetAccessMode().GetMode()
	return m == csipb.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY || m == csipb.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY
}

// isMounted says whether path is a mount point.
func (d *Driver) isMounted(path string) (bool, error) {
	notMnt, err := d.mounter.IsLikelyNotMountPoint(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, status.Errorf(codes.Internal, "check mount point %s: %v", path, err)
	}
	return !notMnt, nil
}

// NodeUnstageVolume unmounts the staging path; unmounted already is fine.
func (d *Driver) NodeUnstageVolume(ctx context.Context, req *csipb.NodeUnstageVolumeRequest) (*csipb.NodeUnstageVolumeResponse, error) {
	if req.GetVolumeId() == "" || req.GetStagingTargetPath() == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id and staging_target_path are required")
	}
	unlock, err := d.volumeLocks.lock(ctx, req.GetVolumeId())
	if err != nil {
		return nil, status.FromContextError(err).Err()
	}
	defer unlock()
	if err := mount.CleanupMountPoint(req.GetStagingTargetPath(), d.mounter, true); err != nil {
		return nil, status.Errorf(codes.Internal, "unmount %s: %v", req.GetStagingTargetPath(), err)
	}
	return &csipb.NodeUnstageVolumeResponse{}, nil
}

// NodePublishVolume bind-mounts the staged filesystem (or the block device)
// on the target path, read-only when asked.
func (d *Driver) NodePublishVolume(ctx context.Context, req *csipb.NodePublishVolumeRequest) (*csipb.NodePublishVolumeResponse, error) {
	id, target, vc := req.GetVolumeId(), req.GetTargetPath(), req.GetVolumeCapability()
	if id == "" || target == "" || vc == nil {
		return nil, status.Error(codes.InvalidArgument, "volume_id, target_path and volume_capability are required")
	}
	if err := validateCapabilities([]*csipb.VolumeCapability{vc}); err != nil {
		return nil, err
	}
	if vc.GetMount() != nil && req.GetStagingTargetPath() == "" {
		return nil, status.Error(codes.InvalidArgument, "staging_target_path is required (the driver stages volumes)")
	}
	unlock, err := d.volumeLocks.lock(ctx, id)
	if err != nil {
		return nil, status.FromContextError(err).Err()
	}
	defer unlock()
	opts := []string{"bind"}
	if req.GetReadonly() || readOnlyMode(vc) {
		opts = append(opts, "ro")
	}
	source := req.GetStagingTargetPath()
	if vc.GetBlock() != nil {
		dev, err := d.devicePath(ctx, id)
		if err != nil {
			return nil, err
		}
		source = dev
		if err := makeFile(target); err != nil {
			return nil, status.Errorf(codes.Internal, "target %s: %v", target, err)
		}
	} else {
		if mounted, err := d.isMounted(source); err != nil {
			return nil, err
		} else if !mounted {
			return nil, status.Errorf(codes.FailedPrecondition, "volume %s is not staged at %s", id, source)
		}
		if err := os.MkdirAll(target, 0o750); err != nil {
			return nil, status.Errorf(codes.Internal, "target %s: %v", target, err)
		}
	}
	if mounted, err := d.isMounted(target); err != nil {
		return nil, err
	} else if mounted {
		return &csipb.NodePublishVolumeResponse{}, nil
	}
	d.log.Info("publishing volume", "volume", id, "source", source, "target", target, "options", opts)
	if err := d.mounter.Mount(source, target, "", opts); err != nil {
		return nil, status.Errorf(codes.Internal, "bind mount %s on %s: %v", source, target, err)
	}
	return &csipb.NodePublishVolumeResponse{}, nil
}

// makeFile creates an empty file (a block volume's bind-mount target).
func makeFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY, 0o640)
	if err != nil {
		return err
	}
	return f.Close()
}

// NodeUnpublishVolume unmounts and removes the target; gone already is fine.
func (d *Driver) NodeUnpublishVolume(ctx context.Context, req *csipb.NodeUnpublishVolumeRequest) (*csipb.NodeUnpublishVolumeResponse, error) {
	if req.GetVolumeId() == "" || req.GetTargetPath() == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id and target_path are required")
	}
	unlock, err := d.volumeLocks.lock(ctx, req.GetVolumeId())
	if err != nil {
		return nil, status.FromContextError(err).Err()
	}
	defer unlock()
	if err := mount.CleanupMountPoint(req.GetTargetPath(), d.mounter, true); err != nil {
		return nil, status.Errorf(codes.Internal, "unmount %s: %v", req.GetTargetPath(), err)
	}
	return &csipb.NodeUnpublishVolumeResponse{}, nil
}

// NodeGetVolumeStats reports bytes and inodes of a mounted volume (bytes of
// a block one).
func (d *Driver) NodeGetVolumeStats(ctx context.Context, req *csipb.NodeGetVolumeStatsRequest) (*csipb.NodeGetVolumeStatsResponse, error) {
	id, path := req.GetVolumeId(), req.GetVolumePath()
	if id == "" || path == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id and volume_path are required")
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, status.Errorf(codes.NotFound, "volume path %s does not exist", path)
		}
		return nil, status.Errorf(codes.Internal, "stat %s: %v", path, err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFBLK {
		size, err := blockSize(path)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "size of %s: %v", path, err)
		}
		return &csipb.NodeGetVolumeStatsResponse{
			Usage: []*csipb.VolumeUsage{{Unit: csipb.VolumeUsage_BYTES, Total: size}}}, nil
	}
	if mounted, err := d.isMounted(path); err != nil {
		return nil, err
	} else if !mounted {
		return nil, status.Errorf(codes.NotFound, "volume %s is not mounted at %s", id, path)
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(path, &fs); err != nil {
		return nil, status.Errorf(codes.Internal, "statfs %s: %v", path, err)
	}
	bs := int64(fs.Bsize)
	return &csipb.NodeGetVolumeStatsResponse{Usage: []*csipb.VolumeUsage{
		{Unit: csipb.VolumeUsage_BYTES, Total: int64(fs.Blocks) * bs, Available: int64(fs.Bavail) * bs, Used: int64(fs.Blocks-fs.Bfree) * bs},
		{Unit: csipb.VolumeUsage_INODES, Total: int64(fs.Files), Available: int64(fs.Ffree), Used: int64(fs.Files - fs.Ffree)},
	}}, nil
}

// NodeGetVolumeHealth reports the condition of the volume's replica on
// this node, from the DRBD state the controller knows.
func (d *Driver) NodeGetVolumeHealth(ctx context.Context, req *csipb.NodeGetVolumeHealthRequest) (*csipb.NodeGetVolumeHealthResponse, error) {
	id := req.GetVolumeId()
	if id == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id is required")
	}
	h, err := d.health(ctx, id, d.opts.NodeName)
	if err != nil {
		return nil, err
	}
	return &csipb.NodeGetVolumeHealthResponse{VolumeHealth: h}, nil
}

// deviceGrowTimeout bounds the wait for a replica's device to reach the
// volume's new size.
const deviceGrowTimeout = 60 * time.Second

// waitDeviceGrown waits until the device is as large as the volume
// definition: ControllerExpandVolume returns when the controller took the
// new size, the agent grows the device after. (The size in the request
// is not waited for: only the controller grows volumes.)
func (d *Driver) waitDeviceGrown(ctx context.Context, id, dev string) error {
	vds, err := d.lc.ResourceDefinitions.GetVolumeDefinitions(ctx, id)
	if err != nil {
		return grpcError(err, "get volume %s", id)
	}
	var want int64
	if len(vds) > 0 {
		want = int64(vds[0].SizeKib) * kib
	}
	ctx, cancel := context.WithTimeout(ctx, deviceGrowTimeout)
	defer cancel()
	for {
		size, err := blockSize(dev)
		if err != nil {
			return status.Errorf(codes.Internal, "size of %s: %v", dev, err)
		}
		if size >= want {
			return nil
		}
		select {
		case <-ctx.Done():
			return status.Errorf(codes.Unavailable, "device %s of volume %s has %d bytes, not yet the %d asked: the replica has not grown yet", dev, id, size, want)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// blockSize is a block device's size in bytes.
func blockSize(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return f.Seek(0, io.SeekEnd)
}

// NodeExpandVolume grows the mounted filesystem to its device (online:
// resize2fs, xfs_growfs through mount-utils); block volumes need nothing.
func (d *Driver) NodeExpandVolume(ctx context.Context, req *csipb.NodeExpandVolumeRequest) (*csipb.NodeExpandVolumeResponse, error) {
	id, path := req.GetVolumeId(), req.GetVolumePath()
	if id == "" || path == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id and volume_path are required")
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, status.Errorf(codes.NotFound, "volume path %s does not exist", path)
	}
	dev, err := d.devicePath(ctx, id)
	if err != nil {
		return nil, err
	}
	if req.GetVolumeCapability().GetBlock() != nil {
		size, err := blockSize(dev)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "size of %s: %v", dev, err)
		}
		return &csipb.NodeExpandVolumeResponse{CapacityBytes: size}, nil
	}
	if err := d.waitDeviceGrown(ctx, id, dev); err != nil {
		return nil, err
	}
	d.log.Info("growing filesystem", "volume", id, "device", dev, "path", path)
	if _, err := mount.NewResizeFs(d.mounter.Exec).Resize(dev, path); err != nil {
		return nil, status.Errorf(codes.Internal, "grow filesystem of %s at %s: %v", dev, path, err)
	}
	size, err := blockSize(dev)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "size of %s: %v", dev, err)
	}
	return &csipb.NodeExpandVolumeResponse{CapacityBytes: size}, nil
}
