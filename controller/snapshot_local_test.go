package controller_test

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	"github.com/piraeusctl/piraeusctl/internal/localup"
)

// TestSnapshotRestoreClone on the local datastore (real API server,
// controller, webhook, three agents with FILE_THIN pools on loop devices):
// a volume is written, snapshotted and written again; a volume restored
// from the snapshot holds the first data only and stays whole when its
// origin and the snapshot are deleted; a clone of it holds the same data
// and drops its transient snapshot; nothing is deleted while a dependant
// object remains, and deleting everything leaves the pool folders empty.
func TestSnapshotRestoreClone(t *testing.T) {
	env := localDatastore(t, localup.Options{})
	c := kubeClient(t, env)
	ctx := t.Context()
	const size = 16 << 20
	before, after := bytes.Repeat([]byte("before-snapshot "), 4096), bytes.Repeat([]byte("after-snapshot! "), 4096)

	src := newVolume("snap-src", localup.ClassLocal, size)
	require.NoError(t, c.Create(ctx, src))
	waitVolumes(t, c, []string{"snap-src"}, time.Minute, "Ready", ready)
	srcDev := devicePath(t, c, "snap-src")
	writeDevice(t, srcDev, before)

	start := time.Now()
	s := &storagev1alpha1.StorageSnapshot{ObjectMeta: metav1.ObjectMeta{Name: storagev1alpha1.SnapshotObjectName("snap-src", "s1")},
		Spec: storagev1alpha1.StorageSnapshotSpec{Volume: "snap-src", SnapshotName: "s1"}}
	require.NoError(t, c.Create(ctx, s))
	s = waitSnapshot(t, c, s.Name, func(s *storagev1alpha1.StorageSnapshot) bool { return s.Status.ReadyToUse })
	t.Logf("snapshot readyToUse %.2fs after creation", time.Since(start).Seconds())
	require.NotNil(t, s.Status.CreationTime)
	require.Len(t, s.Status.Nodes, 1)
	assert.True(t, s.Status.Nodes[0].Taken)
	writeDevice(t, srcDev, after)

	start = time.Now()
	dst := newVolume("snap-dst", localup.ClassLocal, size)
	dst.Spec.Source = &storagev1alpha1.VolumeSource{Snapshot: s.Name}
	require.NoError(t, c.Create(ctx, dst))
	waitVolumes(t, c, []string{"snap-dst"}, time.Minute, "Ready", ready)
	t.Logf("restored volume Ready %.2fs after creation", time.Since(start).Seconds())
	require.NoError(t, c.Get(ctx, types.NamespacedName{Name: "snap-dst"}, dst))
	assert.Equal(t, s.Status.Nodes[0].Node, dst.Spec.Replicas[0].Node, "restored on the node holding the snapshot")
	dstDev := devicePath(t, c, "snap-dst")
	assert.Equal(t, before, readDevice(t, dstDev, len(before)), "the restored volume holds the data written before the snapshot, not after")

	// The origin cannot go while its snapshot exists (webhook, as LINSTOR).
	err := c.Delete(ctx, &storagev1alpha1.StorageVolume{ObjectMeta: metav1.ObjectMeta{Name: "snap-src"}})
	require.True(t, apierrors.IsForbidden(err), "deleting a volume with a snapshot: want Forbidden, got %v", err)
	assert.Contains(t, err.Error(), s.Name)
	assert.Len(t, snapshotFiles(t, env), 1, "the snapshot file is kept")

	// Snapshot, then origin: their files go; the restored volume stays whole.
	require.NoError(t, c.Delete(ctx, s))
	waitObjectGone(t, c, s)
	assert.Empty(t, snapshotFiles(t, env), "snapshot file left behind")
	require.NoError(t, c.Delete(ctx, src))
	waitObjectGone(t, c, src)
	assert.Equal(t, before, readDevice(t, dstDev, len(before)), "the restored volume after its origin and snapshot were deleted")

	// A clone of the restored volume: same data, transient snapshot dropped.
	clone := newVolume("snap-clone", localup.ClassLocal, size)
	clone.Spec.Source = &storagev1alpha1.VolumeSource{Volume: "snap-dst"}
	require.NoError(t, c.Create(ctx, clone))
	waitVolumes(t, c, []string{"snap-clone"}, time.Minute, "Ready", ready)
	assert.Equal(t, before, readDevice(t, devicePath(t, c, "snap-clone"), len(before)), "the clone holds the source's data")
	require.Eventually(t, func() bool {
		list := &storagev1alpha1.StorageSnapshotList{}
		return c.List(ctx, list) == nil && len(list.Items) == 0 && len(snapshotFiles(t, env)) == 0
	}, time.Minute, 200*time.Millisecond, "the clone's transient snapshot is dropped")

	// Three DRBD replicas (DRBD simulated): the snapshot is taken on the
	// three nodes with I/O suspended, and restored on the three of them.
	rep := newVolume("snap-rep", localup.ClassReplicated, size)
	require.NoError(t, c.Create(ctx, rep))
	waitVolumes(t, c, []string{"snap-rep"}, time.Minute, "Ready", ready)
	rs := &storagev1alpha1.StorageSnapshot{ObjectMeta: metav1.ObjectMeta{Name: "snap-rep.s1"},
		Spec: storagev1alpha1.StorageSnapshotSpec{Volume: "snap-rep", SnapshotName: "s1"}}
	require.NoError(t, c.Create(ctx, rs))
	rs = waitSnapshot(t, c, rs.Name, func(s *storagev1alpha1.StorageSnapshot) bool { return s.Status.ReadyToUse })
	assert.Len(t, rs.Status.Nodes, 3, "taken on every diskful replica")
	rep2 := newVolume("snap-rep2", localup.ClassReplicated, size)
	rep2.Spec.Source = &storagev1alpha1.VolumeSource{Snapshot: rs.Name}
	require.NoError(t, c.Create(ctx, rep2))
	waitVolumes(t, c, []string{"snap-rep2"}, time.Minute, "Ready", ready)
	require.NoError(t, c.Get(ctx, types.NamespacedName{Name: "snap-rep2"}, rep2))
	assert.Len(t, rep2.Spec.Replicas, 3)
	require.NoError(t, c.Delete(ctx, rs))
	waitObjectGone(t, c, rs)

	for _, name := range []string{"snap-clone", "snap-dst", "snap-rep", "snap-rep2"} {
		v := &storagev1alpha1.StorageVolume{ObjectMeta: metav1.ObjectMeta{Name: name}}
		require.NoError(t, c.Delete(ctx, v))
		waitObjectGone(t, c, v)
	}
	assert.Empty(t, backingFiles(t, env), "files left in the pool folders")
}

// TestSnapshotKeepsVolumeStorage: a volume deleted past the webhook (its
// finalizer stays) keeps its storage while a snapshot of it exists, and
// loses it once the snapshot is gone.
func TestSnapshotKeepsVolumeStorage(t *testing.T) {
	env := localDatastore(t, localup.Options{})
	c := kubeClient(t, env)
	ctx := t.Context()
	src := newVolume("keep-src", localup.ClassLocal, 8<<20)
	require.NoError(t, c.Create(ctx, src))
	waitVolumes(t, c, []string{"keep-src"}, time.Minute, "Ready", ready)
	s := &storagev1alpha1.StorageSnapshot{ObjectMeta: metav1.ObjectMeta{Name: "keep-src.s1"},
		Spec: storagev1alpha1.StorageSnapshotSpec{Volume: "keep-src", SnapshotName: "s1"}}
	require.NoError(t, c.Create(ctx, s))
	waitSnapshot(t, c, s.Name, func(s *storagev1alpha1.StorageSnapshot) bool { return s.Status.ReadyToUse })
	files := backingFiles(t, env)

	// The webhook refuses; the controller is the second guard: a deletion
	// that got through (webhook down, say) keeps the storage.
	require.Error(t, c.Delete(ctx, src))
	disableWebhook(t, c)
	// The API server drops the webhook from its admission chain a moment
	// after the configuration goes (its informer); until then it refuses.
	require.EventuallyWithT(t, func(ct *assert.CollectT) { assert.NoError(ct, c.Delete(ctx, src)) }, 30*time.Second, 100*time.Millisecond,
		"the deletion gets through once the webhook is gone")
	time.Sleep(3 * time.Second)
	assert.Equal(t, files, backingFiles(t, env), "a volume with a snapshot keeps its storage")
	require.NoError(t, c.Get(ctx, types.NamespacedName{Name: "keep-src"}, src), "its finalizer stays")

	require.NoError(t, c.Delete(ctx, s))
	waitObjectGone(t, c, s)
	waitObjectGone(t, c, src)
	assert.Empty(t, backingFiles(t, env))
}

// disableWebhook removes the validating webhook configurations.
func disableWebhook(t *testing.T, c client.Client) {
	t.Helper()
	require.NoError(t, c.DeleteAllOf(t.Context(), &admissionregistrationv1.ValidatingWebhookConfiguration{}))
}

func waitSnapshot(t *testing.T, c client.Client, name string, ok func(*storagev1alpha1.StorageSnapshot) bool) *storagev1alpha1.StorageSnapshot {
	t.Helper()
	s := &storagev1alpha1.StorageSnapshot{}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if c.Get(t.Context(), types.NamespacedName{Name: name}, s) == nil && ok(s) {
			return s
		}
		time.Sleep(200 * time.Millisecond)
	}
	require.FailNow(t, "snapshot "+name+" not ready", "%+v", s.Status)
	return nil
}

func waitObjectGone(t *testing.T, c client.Client, obj client.Object) {
	t.Helper()
	require.Eventually(t, func() bool {
		return apierrors.IsNotFound(c.Get(t.Context(), client.ObjectKeyFromObject(obj), obj))
	}, time.Minute, 200*time.Millisecond, "%s still exists", obj.GetName())
}

func devicePath(t *testing.T, c client.Client, name string) string {
	t.Helper()
	v := &storagev1alpha1.StorageVolume{}
	require.NoError(t, c.Get(t.Context(), types.NamespacedName{Name: name}, v))
	require.False(t, len(v.Status.Replicas) == 0 || len(v.Status.Replicas[0].Volumes) == 0 || v.Status.Replicas[0].Volumes[0].DevicePath == "", "%s has no device: %+v", name, v.Status)
	return v.Status.Replicas[0].Volumes[0].DevicePath
}

func writeDevice(t *testing.T, dev string, data []byte) {
	t.Helper()
	f, err := os.OpenFile(dev, os.O_WRONLY, 0)
	require.NoError(t, err)
	defer f.Close()
	_, err = f.WriteAt(data, 0)
	require.NoError(t, err)
	require.NoError(t, f.Sync())
}

func readDevice(t *testing.T, dev string, n int) []byte {
	t.Helper()
	f, err := os.Open(dev)
	require.NoError(t, err)
	defer f.Close()
	buf := make([]byte, n)
	_, err = f.ReadAt(buf, 0)
	require.NoError(t, err)
	return buf
}

// snapshotFiles lists the snapshot files in every node's pool.
func snapshotFiles(t *testing.T, env *localup.Env) []string {
	var out []string
	for _, f := range backingFiles(t, env) {
		if strings.HasSuffix(f, ".snap") {
			out = append(out, f)
		}
	}
	return out
}
