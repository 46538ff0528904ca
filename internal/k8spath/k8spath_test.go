package k8spath_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"github.com/piraeusctl/piraeusctl/internal/k8spath"
	"github.com/piraeusctl/piraeusctl/internal/kubetest"
	"github.com/piraeusctl/piraeusctl/internal/localup"
	"github.com/piraeusctl/piraeusctl/internal/testsupport"
)

// binary is piraeusctl built once for the package's tests.
var binary string

func TestMain(m *testing.M) {
	os.Exit(testsupport.MainWithBinary(m, &binary))
}

var (
	snapshotGVR      = schema.GroupVersionResource{Group: "snapshot.storage.k8s.io", Version: "v1", Resource: "volumesnapshots"}
	snapshotClassGVR = schema.GroupVersionResource{Group: "snapshot.storage.k8s.io", Version: "v1", Resource: "volumesnapshotclasses"}
	svolGVR          = schema.GroupVersionResource{Group: "storage.piraeus.io", Version: "v1alpha1", Resource: "storagevolumes"}
	ssnapGVR         = schema.GroupVersionResource{Group: "storage.piraeus.io", Version: "v1alpha1", Resource: "storagesnapshots"}
)

// TestKubernetesPath runs a claim's whole life through the real Kubernetes
// parts on the local datastore: provisioning, attach, stage and publish,
// expansion, snapshot, restore, and deletion that leaves nothing behind.
func TestKubernetesPath(t *testing.T) {
	env, path := kubernetesPath(t)
	ctx := t.Context()
	cs, err := kubernetes.NewForConfig(env.Config)
	require.NoError(t, err)
	dyn, err := dynamic.NewForConfig(env.Config)
	require.NoError(t, err)
	const ns = "default"
	// The DRBD simulator has no data path (no /dev/drbdN), so the volumes
	// here are the storage layer's: the plan's one-replica class. The lab
	// runs replicated volumes on real DRBD.
	class := os.Getenv("PIRAEUSCTL_K8SPATH_CLASS")
	if class == "" {
		class = xfsClass(t, cs, localup.ClassLocal)
	}

	// A claim of the plan's StorageClass becomes Bound.
	start := time.Now()
	_, err = cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, claim("data", class, "320Mi", nil), metav1.CreateOptions{})
	require.NoError(t, err)
	pvc := waitClaimBound(t, cs, ns, "data")
	t.Logf("claim Bound to %s after %s", pvc.Spec.VolumeName, time.Since(start).Round(time.Millisecond))

	// A Pod on node 1: attached, staged, published; data written.
	start = time.Now()
	node1 := nodeFor(t, cs, pvc.Spec.VolumeName)
	writer := createPod(t, cs, ns, "writer", node1, "data")
	target := path.Kubelet.TargetPath(node1, writer.UID, pvc.Spec.VolumeName)
	waitMounted(t, target)
	t.Logf("VolumeAttachment attached and volume mounted on %s at %s after %s", node1, target, time.Since(start).Round(time.Millisecond))
	requireAttached(t, cs, pvc.Spec.VolumeName, node1)
	data := make([]byte, 1<<20)
	_, _ = rand.Read(data)
	writeSynced(t, filepath.Join(target, "data.bin"), data)
	before := fsBytes(t, target)

	// Expanding the claim grows the filesystem.
	start = time.Now()
	pvc, err = cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data", metav1.GetOptions{})
	require.NoError(t, err)
	pvc.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("384Mi")
	_, err = cs.CoreV1().PersistentVolumeClaims(ns).Update(ctx, pvc, metav1.UpdateOptions{})
	require.NoError(t, err)
	waitFor(t, "claim data at 384Mi", 2*time.Minute, func() (bool, string) {
		pvc, err := cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		c := pvc.Status.Capacity[corev1.ResourceStorage]
		return c.Cmp(resource.MustParse("384Mi")) == 0, fmt.Sprintf("capacity %s, conditions %v, allocated %v", c.String(), pvc.Status.Conditions, pvc.Status.AllocatedResourceStatuses)
	})
	after := fsBytes(t, target)
	require.Greater(t, after, before+50<<20, "the filesystem grew by the 64 MiB added (before %d, after %d bytes)", before, after)
	t.Logf("expanded 320Mi → 384Mi: filesystem %d → %d bytes after %s", before, after, time.Since(start).Round(time.Millisecond))

	// A VolumeSnapshot becomes readyToUse.
	start = time.Now()
	createUnstructured(t, dyn, snapshotClassGVR, "", map[string]any{
		"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshotClass",
		"metadata": map[string]any{"name": "linstor"}, "driver": k8spath.Driver, "deletionPolicy": "Delete",
	})
	createUnstructured(t, dyn, snapshotGVR, ns, map[string]any{
		"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
		"metadata": map[string]any{"name": "snap"},
		"spec":     map[string]any{"volumeSnapshotClassName": "linstor", "source": map[string]any{"persistentVolumeClaimName": "data"}},
	})
	waitFor(t, "VolumeSnapshot snap readyToUse", 2*time.Minute, func() (bool, string) {
		s, err := dyn.Resource(snapshotGVR).Namespace(ns).Get(ctx, "snap", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		ready, _, _ := unstructured.NestedBool(s.Object, "status", "readyToUse")
		status, _, _ := unstructured.NestedMap(s.Object, "status")
		return ready, fmt.Sprint(status)
	})
	t.Logf("VolumeSnapshot readyToUse after %s", time.Since(start).Round(time.Millisecond))

	// A claim restored from it holds the data.
	start = time.Now()
	apiGroup := "snapshot.storage.k8s.io"
	_, err = cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, claim("restored", class, "384Mi",
		&corev1.TypedObjectReference{APIGroup: &apiGroup, Kind: "VolumeSnapshot", Name: "snap"}), metav1.CreateOptions{})
	require.NoError(t, err)
	restored := waitClaimBound(t, cs, ns, "restored")
	node2 := nodeFor(t, cs, restored.Spec.VolumeName)
	reader := createPod(t, cs, ns, "reader", node2, "restored")
	rtarget := path.Kubelet.TargetPath(node2, reader.UID, restored.Spec.VolumeName)
	waitMounted(t, rtarget)
	got, err := os.ReadFile(filepath.Join(rtarget, "data.bin"))
	require.NoError(t, err)
	require.True(t, bytes.Equal(data, got), "the restored volume holds the 1 MiB written before the snapshot")
	t.Logf("restored claim Bound, mounted on %s and read back after %s", node2, time.Since(start).Round(time.Millisecond))

	// Deleting Pods, claims and the snapshot leaves nothing behind.
	start = time.Now()
	for _, p := range []string{"writer", "reader"} {
		require.NoError(t, cs.CoreV1().Pods(ns).Delete(ctx, p, metav1.DeleteOptions{}))
	}
	waitFor(t, "Pods removed and volumes unmounted", time.Minute, func() (bool, string) {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		return len(pods.Items) == 0 && !mounted(target) && !mounted(rtarget), fmt.Sprintf("%d Pods", len(pods.Items))
	})
	for _, c := range []string{"data", "restored"} {
		require.NoError(t, cs.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, c, metav1.DeleteOptions{}))
	}
	require.NoError(t, dyn.Resource(snapshotGVR).Namespace(ns).Delete(ctx, "snap", metav1.DeleteOptions{}))
	waitFor(t, "no claim, PV, VolumeAttachment, snapshot, StorageVolume, StorageSnapshot or pool file left", 3*time.Minute, func() (bool, string) {
		left := leftovers(ctx, cs, dyn, env)
		return len(left) == 0, strings.Join(left, "; ")
	})
	t.Logf("everything deleted, pools empty, after %s", time.Since(start).Round(time.Millisecond))
}

// kubernetesPath starts the local datastore with its CSI driver and the
// Kubernetes side around it.
func kubernetesPath(t *testing.T) (*localup.Env, *k8spath.Path) {
	t.Helper()
	if binary == "" {
		t.Skip("integration test skipped (" + testsupport.SkipIntegrationEnv + "=1 or -short)")
	}
	testsupport.RequireRoot(t, "the CSI driver on loop devices and mounts", "mkfs.ext4", "losetup", "mount")
	_, err := kubetest.AssetsDir()
	require.NoError(t, err)
	tools, err := k8spath.ToolsDir()
	require.NoError(t, err)
	if _, err := os.Stat(filepath.Join(tools, "csi-provisioner")); err != nil {
		t.Fatalf("CSI sidecars missing in %s: run hack/csi-sidecars.sh ensure (make test-deps does)", tools)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	env, err := localup.Up(t.Context(), localup.Options{
		Binary: binary, Dir: filepath.Join(t.TempDir(), "local"), Logger: log,
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		if t.Failed() {
			dumpLogs(t, env.Dir)
		}
		env.Down()
	})
	path, err := k8spath.Start(t.Context(), env, k8spath.Options{
		Tools: tools, Logger: log,
	})
	require.NoError(t, err)
	t.Cleanup(path.Stop)
	return env, path
}

// xfsClass is a copy of the named StorageClass whose volumes get XFS: the
// claim is grown online, and this sandbox withholds CAP_SYS_RESOURCE,
// without which the kernel refuses to grow a mounted ext4 (resize2fs:
// Permission denied); XFS grows online without it (and needs 300 MB at
// least: the claims here start at 320Mi).
func xfsClass(t *testing.T, cs kubernetes.Interface, from string) string {
	t.Helper()
	sc, err := cs.StorageV1().StorageClasses().Get(t.Context(), from, metav1.GetOptions{})
	require.NoError(t, err)
	xfs := &storagev1.StorageClass{
		ObjectMeta:           metav1.ObjectMeta{Name: from + "-xfs"},
		Provisioner:          sc.Provisioner,
		Parameters:           maps.Clone(sc.Parameters),
		ReclaimPolicy:        sc.ReclaimPolicy,
		AllowVolumeExpansion: sc.AllowVolumeExpansion,
		VolumeBindingMode:    sc.VolumeBindingMode,
		AllowedTopologies:    sc.AllowedTopologies,
	}
	if xfs.Parameters == nil {
		xfs.Parameters = map[string]string{}
	}
	xfs.Parameters["csi.storage.k8s.io/fstype"] = "xfs"
	_, err = cs.StorageV1().StorageClasses().Create(t.Context(), xfs, metav1.CreateOptions{})
	require.NoError(t, err)
	return xfs.Name
}

func claim(name, class, size string, source *corev1.TypedObjectReference) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: &class,
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
			DataSourceRef:    source,
		},
	}
}

func createPod(t *testing.T, cs kubernetes.Interface, ns, name, node, claimName string) *corev1.Pod {
	t.Helper()
	pod, err := cs.CoreV1().Pods(ns).Create(t.Context(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			NodeName:   node,
			Containers: []corev1.Container{{Name: "app", Image: "busybox", VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}},
			Volumes:    []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claimName}}}},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	return pod
}

// nodeFor picks a node the PV may be used on (its node affinity, from the
// volume's accessible topology), as the scheduler would.
func nodeFor(t *testing.T, cs kubernetes.Interface, pvName string) string {
	t.Helper()
	pv, err := cs.CoreV1().PersistentVolumes().Get(t.Context(), pvName, metav1.GetOptions{})
	require.NoError(t, err)
	nodes, err := cs.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{})
	require.NoError(t, err)
	if pv.Spec.NodeAffinity == nil || pv.Spec.NodeAffinity.Required == nil {
		return nodes.Items[0].Name
	}
	sel, err := nodeaffinity.NewNodeSelector(pv.Spec.NodeAffinity.Required)
	require.NoError(t, err)
	for i := range nodes.Items {
		if sel.Match(&nodes.Items[i]) {
			return nodes.Items[i].Name
		}
	}
	t.Fatalf("no node matches the node affinity of %s: %v", pvName, pv.Spec.NodeAffinity.Required)
	return ""
}

func waitClaimBound(t *testing.T, cs kubernetes.Interface, ns, name string) *corev1.PersistentVolumeClaim {
	t.Helper()
	var pvc *corev1.PersistentVolumeClaim
	waitFor(t, "claim "+name+" Bound", 2*time.Minute, func() (bool, string) {
		var err error
		pvc, err = cs.CoreV1().PersistentVolumeClaims(ns).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return pvc.Status.Phase == corev1.ClaimBound, fmt.Sprintf("phase %s, annotations %v", pvc.Status.Phase, pvc.Annotations)
	})
	return pvc
}

func requireAttached(t *testing.T, cs kubernetes.Interface, pv, node string) {
	t.Helper()
	vas, err := cs.StorageV1().VolumeAttachments().List(t.Context(), metav1.ListOptions{})
	require.NoError(t, err)
	for _, va := range vas.Items {
		if va.Spec.NodeName == node && va.Spec.Source.PersistentVolumeName != nil && *va.Spec.Source.PersistentVolumeName == pv {
			require.True(t, va.Status.Attached, "VolumeAttachment %s attached", va.Name)
			return
		}
	}
	t.Fatalf("no VolumeAttachment of %s to %s", pv, node)
}

func waitMounted(t *testing.T, target string) {
	t.Helper()
	waitFor(t, target+" mounted", 2*time.Minute, func() (bool, string) { return mounted(target), "not a mount point" })
}

// mounted reports whether path is a mount point (/proc/self/mountinfo).
func mounted(path string) bool {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == path {
			return true
		}
	}
	return false
}

func writeSynced(t *testing.T, path string, data []byte) {
	t.Helper()
	f, err := os.Create(path)
	require.NoError(t, err)
	_, err = f.Write(data)
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	require.NoError(t, f.Close())
}

// fsBytes is the size of the filesystem mounted at path.
func fsBytes(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Statfs_t
	require.NoError(t, unix.Statfs(path, &st))
	return st.Blocks * uint64(st.Bsize)
}

func createUnstructured(t *testing.T, dyn dynamic.Interface, gvr schema.GroupVersionResource, ns string, obj map[string]any) {
	t.Helper()
	_, err := dyn.Resource(gvr).Namespace(ns).Create(t.Context(), &unstructured.Unstructured{Object: obj}, metav1.CreateOptions{})
	require.NoError(t, err)
}

// leftovers names what is still there after everything was deleted.
func leftovers(ctx context.Context, cs kubernetes.Interface, dyn dynamic.Interface, env *localup.Env) []string {
	var left []string
	count := func(what string, n int, err error) {
		if err != nil {
			left = append(left, what+": "+err.Error())
		} else if n > 0 {
			left = append(left, fmt.Sprintf("%d %s", n, what))
		}
	}
	pvcs, err := cs.CoreV1().PersistentVolumeClaims("").List(ctx, metav1.ListOptions{})
	count("claims", lenOr(pvcs, err, func() int { return len(pvcs.Items) }), err)
	pvs, err := cs.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	if err == nil {
		for _, pv := range pvs.Items {
			left = append(left, fmt.Sprintf("PV %s (%s, finalizers %v)", pv.Name, pv.Status.Phase, pv.Finalizers))
		}
	} else {
		count("PVs", 0, err)
	}
	vas, err := cs.StorageV1().VolumeAttachments().List(ctx, metav1.ListOptions{})
	count("VolumeAttachments", lenOr(vas, err, func() int { return len(vas.Items) }), err)
	for _, g := range []struct {
		what string
		gvr  schema.GroupVersionResource
	}{{"VolumeSnapshots", snapshotGVR}, {"StorageVolumes", svolGVR}, {"StorageSnapshots", ssnapGVR}} {
		l, err := dyn.Resource(g.gvr).List(ctx, metav1.ListOptions{})
		if err == nil {
			for _, o := range l.Items {
				left = append(left, fmt.Sprintf("%s %s (finalizers %v)", g.what, o.GetName(), o.GetFinalizers()))
			}
		} else if !apierrors.IsNotFound(err) {
			count(g.what, 0, err)
		}
	}
	for _, n := range env.Nodes {
		entries, err := os.ReadDir(n.PoolDir)
		if err != nil {
			left = append(left, err.Error())
			continue
		}
		for _, e := range entries {
			if e.Name() != "lost+found" {
				left = append(left, "pool file "+filepath.Join(n.PoolDir, e.Name()))
			}
		}
	}
	return left
}

func lenOr[T any](v *T, err error, n func() int) int {
	if err != nil || v == nil {
		return 0
	}
	return n()
}

// waitFor polls cond until it holds, failing t with cond's last word after timeout.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		ok, msg := cond()
		if ok {
			return
		}
		last = msg
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last: %s", what, timeout, last)
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("%s: %v", what, t.Context().Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// dumpLogs prints the tail of every component's log of a failed test.
func dumpLogs(t *testing.T, dir string) {
	logs, _ := filepath.Glob(filepath.Join(dir, "logs", "*.log"))
	for _, l := range logs {
		out, _ := exec.Command("tail", "-n", "40", l).Output()
		t.Logf("--- %s\n%s", filepath.Base(l), out)
	}
}
