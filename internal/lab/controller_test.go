package lab_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/piraeusctl/piraeusctl/api/crds"
	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	piraeusv1 "github.com/piraeusctl/piraeusctl/api/v1"
	"github.com/piraeusctl/piraeusctl/controller"
	"github.com/piraeusctl/piraeusctl/internal/kubetest"
	"github.com/piraeusctl/piraeusctl/internal/lab"
	"github.com/piraeusctl/piraeusctl/plan"
)

// labGroup is the resource group of the controller scenario: two diskful
// DRBD replicas on the VMs' thin pools. With two replicas and no third node
// for a tie-breaker, LINSTOR's auto-quorum leaves quorum off.
const labGroup = "lab-two-replicas"

// TestLabController is the storage control plane end to end: the real
// controller on the host, against a real kube-apiserver, drives the real
// agents in two DRBD 9 VMs over mutual TLS (a client certificate of the
// lab's CA). A 2-replica StorageVolume is placed, allocated and converged
// until its status is Ready with both replicas UpToDate; data written
// through the DRBD device on one VM is read on the other after the primary
// moves; deleting the StorageVolume removes the storage on both VMs before
// the object goes.
func TestLabController(t *testing.T) {
	t.Parallel()
	start := time.Now()
	c := bootWithAgents(t, lab.Options{VMs: 2})
	// The controller logs through opts.Logger; envtest's own chatter and
	// controller-runtime's warning about an unset global logger go nowhere.
	ctrllog.SetLogger(logr.Discard())
	kube := kubetest.Start(t)
	cfg := kube.Config(t)
	kc := labKubeClient(t, cfg)
	_, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{CRDs: shippedCRDs(t)})
	require.NoError(t, err, "install the shipped CRDs")
	createLabNodes(t, kc, c.VMs)
	require.NoError(t, kc.Create(t.Context(), labTopology(c.VMs)))
	runController(t, cfg, controllerTLSDir(t, c), "")

	v := &storagev1alpha1.StorageVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pvc-ctl"},
		Spec: storagev1alpha1.StorageVolumeSpec{ResourceGroup: labGroup,
			Volumes: []storagev1alpha1.VolumeDefinition{{Number: 0, SizeBytes: 64 << 20}}},
	}
	s := &replicaSet{c: c, vms: c.VMs}
	runScenarios(t, []scenario{
		{"controller-ready", func(t *testing.T) { scenarioControllerReady(t, kc, s, v) }},
		{"controller-a-to-b", func(t *testing.T) { scenarioControllerHandOver(t, kc, s, v) }},
		{"controller-delete", func(t *testing.T) { scenarioControllerDelete(t, kc, s, v) }},
	})
	t.Logf("timing: controller VMs, all scenarios with boot: %s", time.Since(start).Round(100*time.Millisecond))
}

// scenarioControllerReady creates the StorageVolume and waits until its
// status is Ready, then checks that the status says what DRBD says: both
// replicas deployed, UpToDate, connected to each other.
func scenarioControllerReady(t *testing.T, kc client.Client, s *replicaSet, v *storagev1alpha1.StorageVolume) {
	begin := time.Now()
	require.NoError(t, kc.Create(t.Context(), v))
	got := waitVolume(t, kc, v.Name, 10*time.Minute, "Ready", func(v *storagev1alpha1.StorageVolume) bool {
		return meta.IsStatusConditionTrue(v.Status.Conditions, storagev1alpha1.ConditionReady)
	})
	t.Logf("timing: StorageVolume create → Ready (placement, allocation, both agents converged, DRBD UpToDate on both): %s",
		time.Since(begin).Round(100*time.Millisecond))
	require.Len(t, got.Spec.Replicas, 2, "placement: %+v", got.Spec.Replicas)
	minor := uint32(got.Spec.Replicas[0].Minors[0])
	s.resources = []drbdRes{{name: v.Name, minor: minor}}
	// The status is written from the agents' reports; a peer's disk state
	// may reach it one report after Ready.
	got = waitVolume(t, kc, v.Name, 2*time.Minute, "both replicas UpToDate in status", func(v *storagev1alpha1.StorageVolume) bool {
		return statusUpToDate(v, s.vms) == ""
	})
	for _, r := range got.Status.Replicas {
		assert.Equal(t, drbdDev(minor), r.Volumes[0].DevicePath, "%s: device path in status", r.Node)
		assert.Empty(t, r.LastError, "%s: last error in status", r.Node)
	}
	assert.True(t, meta.IsStatusConditionFalse(got.Status.Conditions, storagev1alpha1.ConditionDegraded), "Degraded: %+v", got.Status.Conditions)
	// What the status says is what DRBD says on each VM.
	s.waitInSync(t, v.Name, 2*time.Minute)
	for _, vm := range s.vms {
		res := sh(t, vm, "cat "+drbdConfigDir+"/"+v.Name+".res")
		assert.NotContains(t, res, "quorum majority", "%s: 2 replicas without a tie-breaker get no quorum (auto-quorum)", vm.Name)
		_, ok := lvs(t, vm, vgName)[v.Name+"_00000"]
		assert.True(t, ok, "%s: no thin LV %s_00000", vm.Name, v.Name)
	}
}

// statusUpToDate says what in the status keeps v from showing both
// replicas deployed, UpToDate and connected with an UpToDate peer; "" when
// nothing does.
func statusUpToDate(v *storagev1alpha1.StorageVolume, vms []*labVM) string {
	if len(v.Status.Replicas) != len(vms) {
		return fmt.Sprintf("%d replicas in status", len(v.Status.Replicas))
	}
	var problems []string
	for _, r := range v.Status.Replicas {
		switch {
		case !r.Deployed || len(r.Volumes) != 1:
			problems = append(problems, r.Node+": not deployed")
		case r.Volumes[0].DiskState != "UpToDate":
			problems = append(problems, r.Node+": disk "+r.Volumes[0].DiskState)
		case len(r.Connections) != 1 || r.Connections[0].State != "Connected" ||
			len(r.Connections[0].PeerDiskStates) != 1 || r.Connections[0].PeerDiskStates[0] != "UpToDate":
			problems = append(problems, fmt.Sprintf("%s: connections %+v", r.Node, r.Connections))
		}
	}
	return strings.Join(problems, "; ")
}

// scenarioControllerHandOver writes through the DRBD device on node-a and
// reads the same bytes on node-b once the primary moved there; the status
// follows the primary.
func scenarioControllerHandOver(t *testing.T, kc client.Client, s *replicaSet, v *storagev1alpha1.StorageVolume) {
	a, b, r := s.vms[0], s.vms[1], s.res(v.Name)
	drbdadm(t, a, "primary", r.name)
	sum := writePattern(t, a, drbdDev(r.minor), 16)
	handOver(t, a, b, r, 16, sum)
	waitVolume(t, kc, v.Name, 2*time.Minute, "node-b Primary in status", func(v *storagev1alpha1.StorageVolume) bool {
		for _, rs := range v.Status.Replicas {
			if rs.Node == b.Name {
				return rs.Role == "Primary" && rs.InUse
			}
		}
		return false
	})
	drbdadm(t, b, "secondary", r.name)
}

// scenarioControllerDelete deletes the StorageVolume: the controller deletes
// the resource on both agents (by name and uid), then drops the finalizer;
// no LV, DRBD resource or resource file is left on either VM.
func scenarioControllerDelete(t *testing.T, kc client.Client, s *replicaSet, v *storagev1alpha1.StorageVolume) {
	require.NoError(t, kc.Delete(t.Context(), v))
	begin := time.Now()
	deadline := begin.Add(5 * time.Minute)
	for {
		err := kc.Get(t.Context(), client.ObjectKeyFromObject(v), &storagev1alpha1.StorageVolume{})
		if apierrors.IsNotFound(err) {
			break
		}
		require.False(t, time.Now().After(deadline), "StorageVolume %s still exists 5 minutes after its deletion (err %v)", v.Name, err)
		time.Sleep(time.Second)
	}
	t.Logf("timing: StorageVolume delete → gone (storage deleted on both VMs): %s", time.Since(begin).Round(100*time.Millisecond))
	for _, vm := range s.vms {
		_, ok := lvs(t, vm, vgName)[v.Name+"_00000"]
		assert.False(t, ok, "%s: LV %s_00000 left after deletion", vm.Name, v.Name)
		_, drbdRes := statusJSON(t, vm)
		_, ok = drbdRes[v.Name]
		assert.False(t, ok, "%s: DRBD resource %s left after deletion", vm.Name, v.Name)
		files := sh(t, vm, "ls "+drbdConfigDir+" 2>/dev/null; true")
		assert.NotContains(t, files, v.Name, "%s: resource file left after deletion", vm.Name)
	}
}

// waitVolume polls the StorageVolume name until ok; it fails with the last
// status seen.
func waitVolume(t *testing.T, kc client.Client, name string, timeout time.Duration, what string, ok func(*storagev1alpha1.StorageVolume) bool) *storagev1alpha1.StorageVolume {
	t.Helper()
	deadline := time.Now().Add(timeout)
	v := &storagev1alpha1.StorageVolume{}
	for {
		err := kc.Get(t.Context(), client.ObjectKey{Name: name}, v)
		if err == nil && ok(v) {
			return v
		}
		require.False(t, time.Now().After(deadline), "waited %s for StorageVolume %s: %s; last error %v, spec replicas %+v, status %+v",
			timeout, name, what, err, v.Spec.Replicas, v.Status)
		time.Sleep(time.Second)
	}
}

func labKubeClient(t *testing.T, cfg *rest.Config) client.Client {
	t.Helper()
	scheme, err := controller.Scheme()
	require.NoError(t, err)
	kc, err := client.New(cfg, client.Options{Scheme: scheme})
	require.NoError(t, err)
	return kc
}

func shippedCRDs(t *testing.T) []*apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	all, err := crds.All()
	require.NoError(t, err)
	out := make([]*apiextensionsv1.CustomResourceDefinition, len(all))
	for i := range all {
		out[i] = &all[i]
	}
	return out
}

// createLabNodes creates a Node per VM as a kubelet would report it, with
// the agent's forwarded port on the host as its agent address.
func createLabNodes(t *testing.T, kc client.Client, vms []*labVM) {
	t.Helper()
	for _, vm := range vms {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: vm.Name,
			Labels:      map[string]string{"kubernetes.io/hostname": vm.Name},
			Annotations: map[string]string{controller.AgentAddressAnnotation: vm.AgentAddr()}}}
		require.NoError(t, kc.Create(t.Context(), n))
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: vm.Addr}, {Type: corev1.NodeHostName, Address: vm.Name}}
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "Lab",
			LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
		require.NoError(t, kc.Status().Update(t.Context(), n))
	}
}

// labTopology is the VMs with their LVM thin pool on the raw disk (the pool
// the agent scenarios use) and the 2-replica group, its DRBD options those
// a StorageClass would carry for slow emulated VMs (slowNet).
func labTopology(vms []*labVM) *storagev1alpha1.StorageTopology {
	topo := &storagev1alpha1.StorageTopology{ObjectMeta: metav1.ObjectMeta{Name: plan.TopologyName}}
	for _, vm := range vms {
		topo.Spec.Nodes = append(topo.Spec.Nodes, storagev1alpha1.TopologyNode{
			Name:      vm.Name,
			Labels:    map[string]string{"kubernetes.io/hostname": vm.Name},
			Addresses: []storagev1alpha1.NodeAddress{{Type: "InternalIP", Address: vm.Addr}, {Type: "Hostname", Address: vm.Name}},
			StoragePools: []storagev1alpha1.StoragePool{{Name: poolThin, ProviderKind: piraeusv1.ProviderLVMThin,
				VolumeGroup: vgName, ThinPool: "thin", HostDevices: []string{vm.Disk}}},
		})
	}
	opts := map[string]string{}
	for k, v := range slowNet {
		opts["Net/"+k] = v
	}
	topo.Spec.ResourceGroups = []storagev1alpha1.ResourceGroup{{Name: labGroup, StorageClasses: []string{labGroup}, PlaceCount: 2,
		StoragePools: []string{poolThin}, LayerList: []string{"drbd", "storage"}, DrbdOptions: opts}}
	return topo
}

// controllerTLSDir writes the controller's client certificate of the lab's
// CA, as the mounted Secret of --internal-tls-dir holds it.
func controllerTLSDir(t *testing.T, c *labCluster) string {
	t.Helper()
	dir := t.TempDir()
	cert, key := c.CA.Issue(t, "linstor-controller", false)
	for name, data := range map[string][]byte{"tls.crt": cert, "tls.key": key, "ca.crt": c.CA.PEM} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o600))
	}
	return dir
}

// runController runs `piraeusctl controller` in-process (what the command
// runs, with leader election, health and metrics endpoints off) until the
// test ends; its logs go to the test log. apiAddr is --api-addr: where it
// serves LINSTOR's REST API v1 over plain HTTP ("" for none).
func runController(t *testing.T, cfg *rest.Config, tlsDir, apiAddr string) {
	t.Helper()
	opts := controller.DefaultOptions()
	opts.Config, opts.AgentTLS, opts.LeaderElection = cfg, controller.AgentTLS{Dir: tlsDir}, false
	opts.HealthAddr, opts.MetricsAddr, opts.Namespace = "0", "0", plan.DefaultNamespace
	opts.APIAddr = apiAddr
	if apiAddr != "" {
		// A create waits for the replicas to deploy; emulated VMs on a
		// shared host take longer than the default.
		opts.APIWaitTimeout = 10 * time.Minute
	}
	opts.Logger = testLogger(t, "controller")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- controller.Run(ctx, opts) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err, "controller")
		case <-time.After(time.Minute):
			t.Error("controller did not stop within a minute")
		}
	})
}

// testLogger logs at info level to the test log, each line prefixed with
// who, until the test's cleanups run (a component stopping late must not
// log to a finished test).
func testLogger(t *testing.T, who string) *slog.Logger {
	w := &testLog{t: t, who: who}
	w.on.Store(true)
	t.Cleanup(func() { w.on.Store(false) })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// testLog writes log lines to the test log until the test ends.
type testLog struct {
	t   *testing.T
	who string
	on  atomic.Bool
}

func (w *testLog) Write(p []byte) (int, error) {
	if w.on.Load() {
		w.t.Log(w.who + ": " + strings.TrimSpace(string(p)))
	}
	return len(p), nil
}
