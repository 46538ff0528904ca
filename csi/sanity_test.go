package csi_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	csipb "github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/kubernetes-csi/csi-test/v5/pkg/sanity"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/piraeusctl/piraeusctl/internal/kubetest"
	"github.com/piraeusctl/piraeusctl/internal/localup"
	"github.com/piraeusctl/piraeusctl/internal/testsupport"
)

// binary is piraeusctl built once for the package's integration tests.
var binary string

// shared is the local datastore the integration tests and benchmarks
// share (starting one takes a minute); TestMain stops it.
var shared struct {
	once sync.Once
	env  *localup.Env
	err  error
}

func TestMain(m *testing.M) {
	code := testsupport.MainWithBinary(m, &binary)
	if shared.env != nil {
		shared.env.Down()
	}
	os.Exit(code)
}

// localDatastore is hack/local-up.sh's datastore with the CSI driver:
// 3 agents with FILE_THIN pools on loop devices, the controller with its
// LINSTOR API, the CSI controller service and a node service per node.
func localDatastore(t testing.TB) *localup.Env {
	t.Helper()
	if binary == "" {
		t.Skip("integration test skipped (" + testsupport.SkipIntegrationEnv + "=1 or -short)")
	}
	testsupport.RequireRoot(t, "the CSI driver on the local datastore", "mkfs.ext4", "mkfs.xfs", "losetup")
	_, err := kubetest.AssetsDir()
	require.NoError(t, err)
	shared.once.Do(func() {
		dir, err := os.MkdirTemp("", "piraeusctl-csi-")
		if err != nil {
			shared.err = err
			return
		}
		shared.env, shared.err = localup.Up(context.Background(), localup.Options{
			Binary: binary, Dir: filepath.Join(dir, "local"), PoolBytes: 8 << 30,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
	})
	require.NoError(t, shared.err)
	return shared.env
}

// sanityParameters are the StorageClass of the csi-sanity run: a replica
// on each of the 3 nodes (so the node under test has one), layer STORAGE,
// the FILE_THIN pool.
var sanityParameters = map[string]string{
	"linstor.csi.linbit.com/storagePool":    localup.PoolName,
	"linstor.csi.linbit.com/placementCount": "3",
	"linstor.csi.linbit.com/layerList":      "storage",
	"csi.storage.k8s.io/fstype":             "ext4",
}

// TestSanity runs upstream's csi-sanity (csi-test v5) against the driver:
// the controller service and local-1's node service of the local
// datastore, with real mkfs and mounts on the agents' loop devices.
func TestSanity(t *testing.T) {
	env := localDatastore(t)
	dir := t.TempDir()
	cfg := sanity.NewTestConfig()
	cfg.Address = env.Nodes[0].CSIEndpoint
	cfg.ControllerAddress = env.CSIControllerEndpoint
	cfg.TargetPath = filepath.Join(dir, "target")
	cfg.StagingPath = filepath.Join(dir, "staging")
	cfg.TestVolumeSize = 64 << 20
	cfg.TestVolumeExpandSize = 128 << 20
	cfg.TestVolumeParameters = sanityParameters
	cfg.IdempotentCount = 2
	sanity.Test(t, cfg)
}

// dial connects to a CSI socket.
func dial(t testing.TB, endpoint string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+strings.TrimPrefix(endpoint, "unix://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

func mountCap(fs string) *csipb.VolumeCapability {
	return &csipb.VolumeCapability{
		AccessType: &csipb.VolumeCapability_Mount{Mount: &csipb.VolumeCapability_MountVolume{FsType: fs}},
		AccessMode: &csipb.VolumeCapability_AccessMode{Mode: csipb.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
	}
}

// BenchmarkCreateVolumeConcurrent50 creates 50 volumes at once (3 FILE_THIN
// replicas each, layer STORAGE) and reports the p50 and p99 latency of
// CreateVolume, which returns when every replica is deployed.
func BenchmarkCreateVolumeConcurrent50(b *testing.B) {
	env := localDatastore(b)
	ctrl := csipb.NewControllerClient(dial(b, env.CSIControllerEndpoint))
	var all []time.Duration
	for i := range b.N {
		lat := make([]time.Duration, 50)
		errs := make(chan error, 50)
		var wg sync.WaitGroup
		for j := range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				_, err := ctrl.CreateVolume(context.Background(), &csipb.CreateVolumeRequest{
					Name: fmt.Sprintf("bench-%d-%d", i, j), CapacityRange: &csipb.CapacityRange{RequiredBytes: 32 << 20},
					VolumeCapabilities: []*csipb.VolumeCapability{mountCap("ext4")}, Parameters: sanityParameters,
				})
				lat[j] = time.Since(start)
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(b, err)
		}
		all = append(all, lat...)
		b.StopTimer()
		for j := range 50 {
			_, err := ctrl.DeleteVolume(context.Background(), &csipb.DeleteVolumeRequest{VolumeId: fmt.Sprintf("bench-%d-%d", i, j)})
			require.NoError(b, err)
		}
		b.StartTimer()
	}
	slices.Sort(all)
	b.ReportMetric(all[len(all)/2].Seconds(), "p50-s")
	b.ReportMetric(all[len(all)*99/100].Seconds(), "p99-s")
}

// BenchmarkStagePublish is NodeStageVolume (mkfs.ext4 and mount) plus
// NodePublishVolume (bind mount) of a fresh volume on local-1.
func BenchmarkStagePublish(b *testing.B) {
	env := localDatastore(b)
	ctrl := csipb.NewControllerClient(dial(b, env.CSIControllerEndpoint))
	node := csipb.NewNodeClient(dial(b, env.Nodes[0].CSIEndpoint))
	ctx := context.Background()
	dir := b.TempDir()
	for i := range b.N {
		b.StopTimer()
		vol, err := ctrl.CreateVolume(ctx, &csipb.CreateVolumeRequest{
			Name: fmt.Sprintf("bench-stage-%d", i), CapacityRange: &csipb.CapacityRange{RequiredBytes: 64 << 20},
			VolumeCapabilities: []*csipb.VolumeCapability{mountCap("ext4")}, Parameters: sanityParameters,
		})
		require.NoError(b, err)
		id := vol.GetVolume().GetVolumeId()
		staging, target := filepath.Join(dir, id, "staging"), filepath.Join(dir, id, "target")
		b.StartTimer()
		_, err = node.NodeStageVolume(ctx, &csipb.NodeStageVolumeRequest{VolumeId: id, StagingTargetPath: staging,
			VolumeCapability: mountCap("ext4"), VolumeContext: vol.GetVolume().GetVolumeContext()})
		require.NoError(b, err)
		_, err = node.NodePublishVolume(ctx, &csipb.NodePublishVolumeRequest{VolumeId: id, StagingTargetPath: staging,
			TargetPath: target, VolumeCapability: mountCap("ext4")})
		require.NoError(b, err)
		b.StopTimer()
		_, err = node.NodeUnpublishVolume(ctx, &csipb.NodeUnpublishVolumeRequest{VolumeId: id, TargetPath: target})
		require.NoError(b, err)
		_, err = node.NodeUnstageVolume(ctx, &csipb.NodeUnstageVolumeRequest{VolumeId: id, StagingTargetPath: staging})
		require.NoError(b, err)
		_, err = ctrl.DeleteVolume(ctx, &csipb.DeleteVolumeRequest{VolumeId: id})
		require.NoError(b, err)
		b.StartTimer()
	}
}
