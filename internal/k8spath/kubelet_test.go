package k8spath

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// fakeNode is a CSI node service that records the calls it gets.
type fakeNode struct {
	csi.UnimplementedNodeServer
	mu    sync.Mutex
	calls []string
}

func (f *fakeNode) record(c string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
}

func (f *fakeNode) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeNode) NodeGetCapabilities(context.Context, *csi.NodeGetCapabilitiesRequest) (*csi.NodeGetCapabilitiesResponse, error) {
	rpc := func(t csi.NodeServiceCapability_RPC_Type) *csi.NodeServiceCapability {
		return &csi.NodeServiceCapability{Type: &csi.NodeServiceCapability_Rpc{Rpc: &csi.NodeServiceCapability_RPC{Type: t}}}
	}
	return &csi.NodeGetCapabilitiesResponse{Capabilities: []*csi.NodeServiceCapability{
		rpc(csi.NodeServiceCapability_RPC_STAGE_UNSTAGE_VOLUME), rpc(csi.NodeServiceCapability_RPC_EXPAND_VOLUME)}}, nil
}

func (f *fakeNode) NodeGetInfo(context.Context, *csi.NodeGetInfoRequest) (*csi.NodeGetInfoResponse, error) {
	return &csi.NodeGetInfoResponse{NodeId: "n1", AccessibleTopology: &csi.Topology{Segments: map[string]string{"linbit.com/hostname": "n1"}}}, nil
}

func (f *fakeNode) NodeStageVolume(_ context.Context, r *csi.NodeStageVolumeRequest) (*csi.NodeStageVolumeResponse, error) {
	f.record("stage " + r.VolumeId + " " + r.PublishContext["dev"] + " " + r.VolumeCapability.GetMount().FsType)
	return &csi.NodeStageVolumeResponse{}, nil
}

func (f *fakeNode) NodePublishVolume(_ context.Context, r *csi.NodePublishVolumeRequest) (*csi.NodePublishVolumeResponse, error) {
	f.record("publish " + r.VolumeId + " " + r.VolumeContext["csi.storage.k8s.io/pod.name"])
	return &csi.NodePublishVolumeResponse{}, nil
}

func (f *fakeNode) NodeExpandVolume(_ context.Context, r *csi.NodeExpandVolumeRequest) (*csi.NodeExpandVolumeResponse, error) {
	f.record("expand " + r.VolumeId + " " + resource.NewQuantity(r.CapacityRange.RequiredBytes, resource.BinarySI).String())
	return &csi.NodeExpandVolumeResponse{}, nil
}

func (f *fakeNode) NodeUnpublishVolume(_ context.Context, r *csi.NodeUnpublishVolumeRequest) (*csi.NodeUnpublishVolumeResponse, error) {
	f.record("unpublish " + r.VolumeId)
	return &csi.NodeUnpublishVolumeResponse{}, nil
}

func (f *fakeNode) NodeUnstageVolume(_ context.Context, r *csi.NodeUnstageVolumeRequest) (*csi.NodeUnstageVolumeResponse, error) {
	f.record("unstage " + r.VolumeId)
	return &csi.NodeUnstageVolumeResponse{}, nil
}

// TestKubeletLifecycle: registration, then a Pod's claim staged and
// published once attached, grown when the claim waits for the node, and
// torn down when the Pod is deleted, with the Node's volumesInUse following.
func TestKubeletLifecycle(t *testing.T) {
	ctx := t.Context()
	sock := filepath.Join(t.TempDir(), "csi.sock")
	l, err := net.Listen("unix", sock)
	require.NoError(t, err)
	srv := grpc.NewServer()
	node := &fakeNode{}
	csi.RegisterNodeServer(srv, node)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)

	pvName := "pvc-1"
	cs := fake.NewClientset(
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}},
		&corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "ns"},
			Spec:       corev1.PersistentVolumeClaimSpec{VolumeName: pvName},
			Status:     corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound, Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("64Mi")}},
		},
		&corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: pvName},
			Spec: corev1.PersistentVolumeSpec{
				Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("64Mi")},
				AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: Driver, VolumeHandle: pvName, FSType: "ext4"}},
			},
		},
		&corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "ns", UID: "uid-1"},
			Spec: corev1.PodSpec{NodeName: "n1", Volumes: []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}}},
		},
	)
	k, err := NewKubelet(cs, t.TempDir(), map[string]string{"n1": "unix://" + sock}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(k.Close)

	require.NoError(t, k.Register(ctx))
	n, err := cs.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "n1", n.Labels["linbit.com/hostname"])
	assert.Equal(t, "true", n.Annotations[controllerManagedAttach])
	csiNode, err := cs.StorageV1().CSINodes().Get(ctx, "n1", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, []string{"linbit.com/hostname"}, csiNode.Spec.Drivers[0].TopologyKeys)

	// Not attached yet: nothing happens.
	require.NoError(t, k.Sync(ctx))
	assert.Empty(t, node.Calls())

	source := pvName
	_, err = cs.StorageV1().VolumeAttachments().Create(ctx, &storagev1.VolumeAttachment{
		ObjectMeta: metav1.ObjectMeta{Name: "csi-1"},
		Spec:       storagev1.VolumeAttachmentSpec{Attacher: Driver, NodeName: "n1", Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: &source}},
		Status:     storagev1.VolumeAttachmentStatus{Attached: true, AttachmentMetadata: map[string]string{"dev": "/dev/x"}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, k.Sync(ctx))
	require.NoError(t, k.Sync(ctx)) // idempotent
	assert.Equal(t, []string{"stage pvc-1 /dev/x ext4", "publish pvc-1 app"}, node.Calls())
	n, err = cs.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, []corev1.UniqueVolumeName{"kubernetes.io/csi/linstor.csi.linbit.com^pvc-1"}, n.Status.VolumesInUse)

	// The PV grew and the claim waits for the node.
	pv, err := cs.CoreV1().PersistentVolumes().Get(ctx, pvName, metav1.GetOptions{})
	require.NoError(t, err)
	pv.Spec.Capacity[corev1.ResourceStorage] = resource.MustParse("128Mi")
	_, err = cs.CoreV1().PersistentVolumes().Update(ctx, pv, metav1.UpdateOptions{})
	require.NoError(t, err)
	pvc, err := cs.CoreV1().PersistentVolumeClaims("ns").Get(ctx, "data", metav1.GetOptions{})
	require.NoError(t, err)
	pvc.Status.Conditions = []corev1.PersistentVolumeClaimCondition{{Type: corev1.PersistentVolumeClaimFileSystemResizePending, Status: corev1.ConditionTrue}}
	_, err = cs.CoreV1().PersistentVolumeClaims("ns").UpdateStatus(ctx, pvc, metav1.UpdateOptions{})
	require.NoError(t, err)
	require.NoError(t, k.Sync(ctx))
	require.NoError(t, k.Sync(ctx))
	assert.Equal(t, "expand pvc-1 128Mi", node.Calls()[2])
	assert.Len(t, node.Calls(), 3)
	pvc, err = cs.CoreV1().PersistentVolumeClaims("ns").Get(ctx, "data", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "128Mi", pvc.Status.Capacity.Storage().String())
	assert.Empty(t, pvc.Status.Conditions)

	// The Pod is deleted: torn down, removed, no longer in use.
	pod, err := cs.CoreV1().Pods("ns").Get(ctx, "app", metav1.GetOptions{})
	require.NoError(t, err)
	now := metav1.Now()
	pod.DeletionTimestamp = &now
	_, err = cs.CoreV1().Pods("ns").Update(ctx, pod, metav1.UpdateOptions{})
	require.NoError(t, err)
	require.NoError(t, k.Sync(ctx))
	assert.Equal(t, []string{"unpublish pvc-1", "unstage pvc-1"}, node.Calls()[3:])
	pods, err := cs.CoreV1().Pods("ns").List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, pods.Items)
	n, err = cs.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Empty(t, n.Status.VolumesInUse)
}
