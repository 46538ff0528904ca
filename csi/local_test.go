package csi_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	csipb "github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/piraeusctl/piraeusctl/csi/csitest"
)

// driver is the controller and local-1's node service of the local datastore.
type driver struct {
	ctrl csipb.ControllerClient
	node csipb.NodeClient
	dir  string
}

func newDriver(t *testing.T) *driver {
	env := localDatastore(t)
	return &driver{
		ctrl: csipb.NewControllerClient(csitest.Dial(t, env.CSIControllerEndpoint)),
		node: csipb.NewNodeClient(csitest.Dial(t, env.Nodes[0].CSIEndpoint)),
		dir:  t.TempDir(),
	}
}

// create makes a volume and deletes it when the test ends.
func (d *driver) create(t *testing.T, req *csipb.CreateVolumeRequest) *csipb.Volume {
	t.Helper()
	if req.Parameters == nil {
		req.Parameters = sanityParameters
	}
	if req.CapacityRange == nil {
		req.CapacityRange = &csipb.CapacityRange{RequiredBytes: 64 << 20}
	}
	resp, err := d.ctrl.CreateVolume(t.Context(), req)
	require.NoError(t, err)
	id := resp.GetVolume().GetVolumeId()
	t.Cleanup(func() {
		_, err := d.ctrl.DeleteVolume(context.Background(), &csipb.DeleteVolumeRequest{VolumeId: id})
		assert.NoError(t, err)
	})
	return resp.GetVolume()
}

// stage stages and publishes the volume on local-1 and returns the
// published path; both are undone when the test ends.
func (d *driver) stage(t *testing.T, vol *csipb.Volume, fs string) (string, error) {
	t.Helper()
	id := vol.GetVolumeId()
	staging, target := filepath.Join(d.dir, id, "staging"), filepath.Join(d.dir, id, "target")
	_, err := d.node.NodeStageVolume(t.Context(), &csipb.NodeStageVolumeRequest{VolumeId: id, StagingTargetPath: staging,
		VolumeCapability: mountCap(fs), VolumeContext: vol.GetVolumeContext()})
	if err != nil {
		return "", err
	}
	t.Cleanup(func() {
		_, err := d.node.NodeUnstageVolume(context.Background(), &csipb.NodeUnstageVolumeRequest{VolumeId: id, StagingTargetPath: staging})
		assert.NoError(t, err)
	})
	_, err = d.node.NodePublishVolume(t.Context(), &csipb.NodePublishVolumeRequest{VolumeId: id, StagingTargetPath: staging,
		TargetPath: target, VolumeCapability: mountCap(fs)})
	require.NoError(t, err)
	t.Cleanup(func() {
		_, err := d.node.NodeUnpublishVolume(context.Background(), &csipb.NodeUnpublishVolumeRequest{VolumeId: id, TargetPath: target})
		assert.NoError(t, err)
	})
	return target, nil
}

func TestCreateVolumeBadInput(t *testing.T) {
	d := newDriver(t)
	caps := []*csipb.VolumeCapability{mountCap("ext4")}
	_, err := d.ctrl.CreateVolume(t.Context(), &csipb.CreateVolumeRequest{Name: "bad-param", VolumeCapabilities: caps,
		Parameters: map[string]string{"linstor.csi.linbit.com/placmentCount": "2"}})
	assert.Equal(t, codes.InvalidArgument, status.Code(err), "%v", err)
	assert.ErrorContains(t, err, `parameters[linstor.csi.linbit.com/placmentCount]: Unsupported value: "placmentCount"`)
	_, err = d.ctrl.CreateVolume(t.Context(), &csipb.CreateVolumeRequest{Name: "luks", VolumeCapabilities: caps,
		Parameters: map[string]string{"encryption": "true"}})
	assert.Equal(t, codes.InvalidArgument, status.Code(err), "a feature the driver lacks is refused, not ignored: %v", err)
	assert.ErrorContains(t, err, `parameters[encryption]: Invalid value: "true": encryption (a LUKS layer) is not supported`)

	_, err = d.ctrl.CreateVolume(t.Context(), &csipb.CreateVolumeRequest{Name: "too-many", VolumeCapabilities: caps,
		CapacityRange: &csipb.CapacityRange{RequiredBytes: 64 << 20},
		Parameters:    map[string]string{"storagePool": "thin", "placementCount": "4", "layerList": "storage"}})
	assert.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)
	assert.ErrorContains(t, err, "4")
	_, err = d.ctrl.ControllerGetVolume(t.Context(), &csipb.ControllerGetVolumeRequest{VolumeId: "too-many"})
	assert.Equal(t, codes.NotFound, status.Code(err), "a volume that could not be placed is not left behind: %v", err)
}

// TestStageRefusesOtherFilesystem: a device holding ext4 is never
// formatted as XFS; its data stays.
func TestStageRefusesOtherFilesystem(t *testing.T) {
	d := newDriver(t)
	vol := d.create(t, &csipb.CreateVolumeRequest{Name: "keep-my-data", VolumeCapabilities: []*csipb.VolumeCapability{mountCap("ext4")}})
	id := vol.GetVolumeId()
	path, err := d.stage(t, vol, "ext4")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(path, "data"), []byte("precious"), 0o644))
	staging := filepath.Join(d.dir, id, "staging")
	_, err = d.node.NodeUnpublishVolume(t.Context(), &csipb.NodeUnpublishVolumeRequest{VolumeId: id, TargetPath: path})
	require.NoError(t, err)
	_, err = d.node.NodeUnstageVolume(t.Context(), &csipb.NodeUnstageVolumeRequest{VolumeId: id, StagingTargetPath: staging})
	require.NoError(t, err)

	_, err = d.node.NodeStageVolume(t.Context(), &csipb.NodeStageVolumeRequest{VolumeId: id, StagingTargetPath: staging + "-xfs",
		VolumeCapability: mountCap("xfs")})
	assert.Equal(t, codes.FailedPrecondition, status.Code(err), "%v", err)

	path, err = d.stage(t, vol, "ext4")
	require.NoError(t, err)
	data, err := os.ReadFile(filepath.Join(path, "data"))
	require.NoError(t, err)
	assert.Equal(t, "precious", string(data))
}

// TestExpandOnline grows a mounted volume: the controller grows the
// volume, the node the filesystem (xfs_growfs, resize2fs), while mounted.
func TestExpandOnline(t *testing.T) {
	d := newDriver(t)
	for _, fs := range []string{"xfs", "ext4"} {
		t.Run(fs, func(t *testing.T) {
			if fs == "ext4" && !hasCapability(t, unix.CAP_SYS_RESOURCE) {
				t.Skip("online ext4 growth needs CAP_SYS_RESOURCE (the kernel's EXT4_IOC_RESIZE_FS), which this sandbox withholds; xfs_growfs covers online growth here")
			}
			vol := d.create(t, &csipb.CreateVolumeRequest{Name: "grow-" + fs, VolumeCapabilities: []*csipb.VolumeCapability{mountCap(fs)},
				CapacityRange: &csipb.CapacityRange{RequiredBytes: 320 << 20}})
			path, err := d.stage(t, vol, fs)
			require.NoError(t, err)
			before := fsBytes(t, path)
			resp, err := d.ctrl.ControllerExpandVolume(t.Context(), &csipb.ControllerExpandVolumeRequest{VolumeId: vol.GetVolumeId(),
				CapacityRange: &csipb.CapacityRange{RequiredBytes: 1 << 30}, VolumeCapability: mountCap(fs)})
			require.NoError(t, err)
			assert.True(t, resp.GetNodeExpansionRequired())
			_, err = d.node.NodeExpandVolume(t.Context(), &csipb.NodeExpandVolumeRequest{VolumeId: vol.GetVolumeId(), VolumePath: path,
				VolumeCapability: mountCap(fs), CapacityRange: &csipb.CapacityRange{RequiredBytes: 1 << 30}})
			require.NoError(t, err)
			after := fsBytes(t, path)
			assert.Greater(t, after, 2*before, "filesystem grew from %d to %d bytes", before, after)
		})
	}
}

// hasCapability says whether this process holds the capability.
func hasCapability(t *testing.T, c int) bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	require.NoError(t, unix.Capget(&hdr, &data[0]))
	return data[c/32].Effective&(1<<(uint(c)%32)) != 0
}

func fsBytes(t *testing.T, path string) int64 {
	t.Helper()
	var st unix.Statfs_t
	require.NoError(t, unix.Statfs(path, &st))
	return int64(st.Blocks) * st.Bsize
}

// TestRestoreXFSSnapshot: an XFS volume restored from a snapshot holds the
// data and mounts beside its source (same filesystem UUID: nouuid).
func TestRestoreXFSSnapshot(t *testing.T) {
	d := newDriver(t)
	caps := []*csipb.VolumeCapability{mountCap("xfs")}
	src := d.create(t, &csipb.CreateVolumeRequest{Name: "xfs-source", VolumeCapabilities: caps, CapacityRange: &csipb.CapacityRange{RequiredBytes: 320 << 20}})
	path, err := d.stage(t, src, "xfs")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(path, "data"), []byte("snapshotted"), 0o644))
	unix.Sync()
	snap, err := d.ctrl.CreateSnapshot(t.Context(), &csipb.CreateSnapshotRequest{Name: "xfs-snap", SourceVolumeId: src.GetVolumeId()})
	require.NoError(t, err)
	t.Cleanup(func() {
		_, err := d.ctrl.DeleteSnapshot(context.Background(), &csipb.DeleteSnapshotRequest{SnapshotId: snap.GetSnapshot().GetSnapshotId()})
		assert.NoError(t, err)
	})
	restored := d.create(t, &csipb.CreateVolumeRequest{Name: "xfs-restored", VolumeCapabilities: caps,
		CapacityRange: &csipb.CapacityRange{RequiredBytes: 320 << 20},
		VolumeContentSource: &csipb.VolumeContentSource{Type: &csipb.VolumeContentSource_Snapshot{
			Snapshot: &csipb.VolumeContentSource_SnapshotSource{SnapshotId: snap.GetSnapshot().GetSnapshotId()}}}})
	path2, err := d.stage(t, restored, "xfs")
	require.NoError(t, err)
	data, err := os.ReadFile(filepath.Join(path2, "data"))
	require.NoError(t, err)
	assert.Equal(t, "snapshotted", string(data))
}
