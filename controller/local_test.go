package controller_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	"github.com/piraeusctl/piraeusctl/controller"
	"github.com/piraeusctl/piraeusctl/internal/kubetest"
	"github.com/piraeusctl/piraeusctl/internal/localup"
	"github.com/piraeusctl/piraeusctl/internal/testsupport"
	"github.com/piraeusctl/piraeusctl/plan"
)

// binary is piraeusctl built once for the package's tests.
var binary string

func TestMain(m *testing.M) {
	os.Exit(testsupport.MainWithBinary(m, &binary))
}

// localDatastore starts hack/local-up.sh's datastore for one test.
func localDatastore(t testing.TB, opts localup.Options) *localup.Env {
	t.Helper()
	if binary == "" {
		t.Skip("integration test skipped (" + testsupport.SkipIntegrationEnv + "=1 or -short)")
	}
	if os.Getuid() != 0 {
		t.Skip("needs root: loop devices and mounts")
	}
	_, err := kubetest.AssetsDir()
	require.NoError(t, err)
	opts.Binary = binary
	opts.Dir = filepath.Join(t.TempDir(), "local")
	opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	opts.ControllerArgs = append([]string{"--resync=20s"}, opts.ControllerArgs...)
	env, err := localup.Up(t.Context(), opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		if t.Failed() {
			dumpLogs(t, env.Dir)
			if keep := os.Getenv("PIRAEUSCTL_KEEP_LOGS"); keep != "" {
				_ = exec.Command("cp", "-r", filepath.Join(env.Dir, "logs"), keep).Run()
			}
		}
		env.Down()
	})
	return env
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func dumpLogs(t testing.TB, dir string) {
	logs, _ := filepath.Glob(filepath.Join(dir, "logs", "*.log"))
	for _, l := range logs {
		data, _ := os.ReadFile(l)
		lines := strings.Split(string(data), "\n")
		if len(lines) > 60 {
			lines = lines[len(lines)-60:]
		}
		t.Logf("=== %s (last lines)\n%s", filepath.Base(l), strings.Join(lines, "\n"))
	}
}

func kubeClient(t testing.TB, env *localup.Env) client.Client {
	scheme, err := controller.Scheme()
	require.NoError(t, err)
	c, err := client.New(env.Config, client.Options{Scheme: scheme})
	require.NoError(t, err)
	return c
}

func newVolume(name, group string, size int64) *storagev1alpha1.StorageVolume {
	return &storagev1alpha1.StorageVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: storagev1alpha1.StorageVolumeSpec{
			ResourceGroup: group,
			Volumes:       []storagev1alpha1.VolumeDefinition{{Number: 0, SizeBytes: size}},
		},
	}
}

// waitVolumes waits until every named volume satisfies ok.
func waitVolumes(t testing.TB, c client.Client, names []string, timeout time.Duration, what string, ok func(*storagev1alpha1.StorageVolume) bool) map[string]time.Time {
	t.Helper()
	done := map[string]time.Time{}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		list := &storagev1alpha1.StorageVolumeList{}
		require.NoError(t, c.List(t.Context(), list))
		for i := range list.Items {
			v := &list.Items[i]
			if _, seen := done[v.Name]; !seen && slices.Contains(names, v.Name) && ok(v) {
				done[v.Name] = time.Now()
			}
		}
		if len(done) == len(names) {
			return done
		}
		time.Sleep(200 * time.Millisecond)
	}
	var missing []string
	for _, n := range names {
		if _, ok := done[n]; !ok {
			missing = append(missing, n)
		}
	}
	sort.Strings(missing)
	v := &storagev1alpha1.StorageVolume{}
	if len(missing) > 0 && c.Get(t.Context(), types.NamespacedName{Name: missing[0]}, v) == nil {
		t.Logf("%s: %+v", v.Name, v.Status)
	}
	require.FailNow(t, fmt.Sprintf("%d of %d volumes not %s after %s: %v", len(missing), len(names), what, timeout, missing[:min(len(missing), 10)]))
	return nil
}

func ready(v *storagev1alpha1.StorageVolume) bool {
	return meta.IsStatusConditionTrue(v.Status.Conditions, storagev1alpha1.ConditionReady)
}

func placed(v *storagev1alpha1.StorageVolume) bool {
	return meta.IsStatusConditionTrue(v.Status.Conditions, storagev1alpha1.ConditionPlaced)
}

// volumeSet returns n volumes of 8 MiB named prefix-NNN, taking their
// groups in turn from groups, and their names.
func volumeSet(prefix string, n int, groups ...string) ([]*storagev1alpha1.StorageVolume, []string) {
	var vols []*storagev1alpha1.StorageVolume
	var names []string
	for i := range n {
		v := newVolume(fmt.Sprintf("%s-%03d", prefix, i), groups[i%len(groups)], 8<<20)
		vols = append(vols, v)
		names = append(names, v.Name)
	}
	return vols, names
}

// mixedVolumes returns n DRBD volumes, half of three replicas and half of
// two and a tie-breaker.
func mixedVolumes(prefix string, n int) ([]*storagev1alpha1.StorageVolume, []string) {
	return volumeSet(prefix, n, localup.ClassReplicated, localup.ClassTwo)
}

// createConcurrently creates the volumes from n goroutines at once.
func createConcurrently(t testing.TB, c client.Client, vols []*storagev1alpha1.StorageVolume) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(vols))
	for _, v := range vols {
		wg.Go(func() { errs <- c.Create(context.Background(), v) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// backingFiles lists the files in every node's pool.
func backingFiles(t testing.TB, env *localup.Env) []string {
	var out []string
	for _, n := range env.Nodes {
		entries, err := os.ReadDir(n.PoolDir)
		require.NoError(t, err)
		for _, e := range entries {
			if e.Name() == "lost+found" {
				continue
			}
			out = append(out, n.Name+"/"+e.Name())
		}
	}
	sort.Strings(out)
	return out
}

// assertAllocationsUnique checks that no node gives one port or minor to
// two volumes, in the volumes' specs and in the ledgers, and that every
// recorded number is in its node's ledger under its volume.
func assertAllocationsUnique(t *testing.T, c client.Client) {
	t.Helper()
	list := &storagev1alpha1.StorageVolumeList{}
	require.NoError(t, c.List(t.Context(), list))
	type key struct {
		node string
		what string
		n    int32
	}
	owner := map[key]string{}
	for _, v := range list.Items {
		for _, r := range v.Spec.Replicas {
			keys := []key{{r.Node, "port", r.Port}}
			for _, m := range r.Minors {
				keys = append(keys, key{r.Node, "minor", m})
			}
			for _, k := range keys {
				if k.n == 0 {
					continue
				}
				other, dup := owner[k]
				require.False(t, dup, "%s %d on %s given to %s and %s", k.what, k.n, k.node, other, v.Name)
				owner[k] = v.Name
			}
		}
	}
	ledgers := &storagev1alpha1.NodeAllocationList{}
	require.NoError(t, c.List(t.Context(), ledgers))
	held := map[key]string{}
	for _, na := range ledgers.Items {
		for _, e := range na.Spec.Ports {
			held[key{na.Name, "port", e.Number}] = e.Volume
		}
		for _, e := range na.Spec.Minors {
			held[key{na.Name, "minor", e.Number}] = e.Volume
		}
	}
	for k, v := range owner {
		assert.Equal(t, v, held[k], "ledger of %s holds %s %d for its volume", k.node, k.what, k.n)
	}
}

// metric reads one counter or gauge (summed over labels) from /metrics.
func metric(t *testing.T, addr, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var sum float64
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, name) || (len(line) > len(name) && line[len(name)] != ' ' && line[len(name)] != '{') {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		require.NoError(t, err)
		sum += v
	}
	return sum
}

// TestStorageOnlyVolumes: volumes of the storage layer become real backing
// files on the local agents and turn Ready; deleting one removes only its files.
func TestStorageOnlyVolumes(t *testing.T) {
	env := localDatastore(t, localup.Options{})
	c := kubeClient(t, env)
	var vols []*storagev1alpha1.StorageVolume
	var names []string
	for i := range 12 {
		v := newVolume(fmt.Sprintf("local-%02d", i), localup.ClassLocal, 16<<20)
		vols = append(vols, v)
		names = append(names, v.Name)
	}
	createConcurrently(t, c, vols)
	waitVolumes(t, c, names, 2*time.Minute, "Ready", ready)
	files := backingFiles(t, env)
	assert.Len(t, files, len(vols), "one backing file per single-replica volume: %v", files)

	victim := &storagev1alpha1.StorageVolume{}
	require.NoError(t, c.Get(t.Context(), types.NamespacedName{Name: "local-03"}, victim))
	node := victim.Spec.Replicas[0].Node
	require.NoError(t, c.Delete(t.Context(), victim))
	require.Eventually(t, func() bool {
		err := c.Get(t.Context(), types.NamespacedName{Name: "local-03"}, &storagev1alpha1.StorageVolume{})
		return err != nil
	}, time.Minute, 200*time.Millisecond, "the finalizer goes once the storage is gone")
	after := backingFiles(t, env)
	assert.Len(t, after, len(files)-1)
	for _, f := range files {
		if strings.Contains(f, "local-03") {
			assert.NotContains(t, after, f)
			assert.True(t, strings.HasPrefix(f, node+"/"))
		} else {
			assert.Contains(t, after, f, "other volumes' files stay")
		}
	}
	_ = plan.TopologyName
}

// TestTwoControllersNeverDoubleAllocate runs two controllers without leader
// election against 100 DRBD volumes created at once: every port and minor of
// every node goes to one volume only, in the specs and in the ledgers.
func TestTwoControllersNeverDoubleAllocate(t *testing.T) {
	env := localDatastore(t, localup.Options{Controllers: 2, ControllerArgs: []string{"--leader-elect=false"}})
	c := kubeClient(t, env)
	vols, names := mixedVolumes("race", 100)
	createConcurrently(t, c, vols)
	waitVolumes(t, c, names, 5*time.Minute, "Placed", placed)
	assertAllocationsUnique(t, c)
	list := &storagev1alpha1.StorageVolumeList{}
	require.NoError(t, c.List(t.Context(), list))
	for _, v := range list.Items {
		want := 3
		assert.Len(t, v.Spec.Replicas, want, "%s: 3 diskful, or 2 diskful and a tie-breaker", v.Name)
	}
}

// TestHundredVolumes creates 100 volume objects at once (DRBD over thin
// files, three replicas or two and a tie-breaker): all are placed without
// collisions, the agents converge, and every status turns Ready.
func TestHundredVolumes(t *testing.T) {
	env := localDatastore(t, localup.Options{})
	c := kubeClient(t, env)
	vols, names := mixedVolumes("hundred", 100)
	createConcurrently(t, c, vols)
	waitVolumes(t, c, names, 10*time.Minute, "Ready", ready)
	assertAllocationsUnique(t, c)
	assert.Len(t, backingFiles(t, env), 50*3+50*2, "one backing file per diskful replica")
}

// TestControllerKilledMidway kills the controller with SIGKILL while 60
// volumes are being placed and deployed, restarts it, and checks that
// nothing is lost or doubled.
func TestControllerKilledMidway(t *testing.T) {
	env := localDatastore(t, localup.Options{ControllerArgs: []string{"--leader-elect=false"}})
	c := kubeClient(t, env)
	var vols []*storagev1alpha1.StorageVolume
	var local, drbd []string
	for i := range 60 {
		v := newVolume(fmt.Sprintf("crash-%02d", i), localup.ClassLocal, 8<<20)
		if i%2 == 1 {
			v.Spec.ResourceGroup = localup.ClassReplicated
			drbd = append(drbd, v.Name)
		} else {
			local = append(local, v.Name)
		}
		vols = append(vols, v)
	}
	createConcurrently(t, c, vols)
	time.Sleep(700 * time.Millisecond)
	require.NoError(t, env.Kill(localup.ControllerName))
	require.NoError(t, env.Restart(t.Context(), localup.ControllerName))
	waitVolumes(t, c, local, 3*time.Minute, "Ready", ready)
	if len(drbd) > 0 {
		waitVolumes(t, c, drbd, 3*time.Minute, "Ready", ready)
	}
	assertAllocationsUnique(t, c)
	assert.Len(t, backingFiles(t, env), len(local)+3*len(drbd), "one backing file per diskful replica, none doubled")
}

// TestAgentRestartIsRetold: an agent that restarts has no state of its own;
// the controller tells it its desired state again and the volumes stay Ready.
func TestAgentRestartIsRetold(t *testing.T) {
	env := localDatastore(t, localup.Options{})
	c := kubeClient(t, env)
	vols, names := volumeSet("retold", 6, localup.ClassLocal)
	createConcurrently(t, c, vols)
	waitVolumes(t, c, names, 2*time.Minute, "Ready", ready)
	before := metric(t, env.ControllerMetrics, "piraeusctl_controller_agent_applies_total")
	agent := "agent-" + env.Nodes[0].Name
	require.NoError(t, env.Kill(agent))
	require.NoError(t, env.Restart(t.Context(), agent))
	require.Eventually(t, func() bool {
		return metric(t, env.ControllerMetrics, "piraeusctl_controller_agent_applies_total") > before
	}, time.Minute, 200*time.Millisecond, "the restarted agent is told its state")
	logData, err := os.ReadFile(filepath.Join(env.Dir, "logs", agent+".log"))
	require.NoError(t, err)
	assert.GreaterOrEqual(t, strings.Count(string(logData), "applied desired state"), 2, "applied before and after the restart")
	waitVolumes(t, c, names, time.Minute, "Ready", ready)
}

// TestObjectsVanishDataStays: volume objects that vanish while the
// controller is down (finalizers removed by hand, objects deleted) leave
// their backing files in place, and the agents' orphans show in the
// StorageTopology status once the controller is back.
func TestObjectsVanishDataStays(t *testing.T) {
	env := localDatastore(t, localup.Options{ControllerArgs: []string{"--leader-elect=false"}})
	c := kubeClient(t, env)
	names := createReady(t, c, "vanish", 4)
	files := backingFiles(t, env)
	require.NoError(t, env.Kill(localup.ControllerName))
	for _, n := range names {
		forceDelete(t, c, n)
	}
	require.NoError(t, env.Restart(t.Context(), localup.ControllerName))
	waitOrphans(t, c, len(names))
	assert.Equal(t, files, backingFiles(t, env), "no backing file removed")
}

// TestCRDDeletedDataStays deletes the StorageVolume CRD: the API server marks
// every volume for deletion and the controller's informer loses them all;
// the controller refuses to destroy their storage, and after the finalizers
// are removed by hand the data is still there, reported as orphans.
func TestCRDDeletedDataStays(t *testing.T) {
	env := localDatastore(t, localup.Options{})
	c := kubeClient(t, env)
	names := createReady(t, c, "crd", 3)
	files := backingFiles(t, env)
	crd := &apiextensionsv1.CustomResourceDefinition{}
	require.NoError(t, c.Get(t.Context(), types.NamespacedName{Name: "storagevolumes.storage.piraeus.io"}, crd))
	require.NoError(t, c.Delete(t.Context(), crd))
	require.Eventually(t, func() bool {
		events := &corev1.EventList{}
		require.NoError(t, c.List(t.Context(), events))
		refused := 0
		for _, e := range events.Items {
			if e.Reason == "DeleteRefused" {
				refused++
			}
		}
		return refused >= len(names)
	}, time.Minute, 500*time.Millisecond, "the controller refuses each deletion with an Event")
	assert.Equal(t, files, backingFiles(t, env), "no backing file removed while the CRD is deleted")
	for _, n := range names {
		forceDelete(t, c, n)
	}
	waitOrphans(t, c, len(names))
	assert.Equal(t, files, backingFiles(t, env), "no backing file removed after the objects vanished")
}

// createReady creates n single-replica volumes and waits until they are Ready.
func createReady(t *testing.T, c client.Client, prefix string, n int) []string {
	t.Helper()
	vols, names := volumeSet(prefix, n, localup.ClassLocal)
	createConcurrently(t, c, vols)
	waitVolumes(t, c, names, 2*time.Minute, "Ready", ready)
	return names
}

// forceDelete removes a volume object without its controller: finalizers
// dropped, object deleted.
func forceDelete(t *testing.T, c client.Client, name string) {
	t.Helper()
	v := &storagev1alpha1.StorageVolume{}
	require.NoError(t, c.Get(t.Context(), types.NamespacedName{Name: name}, v))
	patch := client.MergeFrom(v.DeepCopy())
	v.Finalizers = nil
	require.NoError(t, c.Patch(t.Context(), v, patch))
	if err := c.Delete(t.Context(), v); err != nil && !apierrors.IsNotFound(err) {
		require.NoError(t, err)
	}
}

// waitOrphans waits until the StorageTopology status lists n orphans.
func waitOrphans(t *testing.T, c client.Client, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		topo := &storagev1alpha1.StorageTopology{}
		if c.Get(t.Context(), types.NamespacedName{Name: plan.TopologyName}, topo) != nil {
			return false
		}
		orphans := 0
		for _, node := range topo.Status.Nodes {
			orphans += len(node.Orphans)
		}
		return orphans >= n
	}, time.Minute, 500*time.Millisecond, "orphans are reported")
}

// TestIdleCostsNothing: once converged, resyncs write nothing to the API
// server and run no mutating command on any node.
func TestIdleCostsNothing(t *testing.T) {
	env := localDatastore(t, localup.Options{ControllerArgs: []string{"--resync=3s"}})
	c := kubeClient(t, env)
	vols, names := volumeSet("idle", 10, localup.ClassLocal)
	createConcurrently(t, c, vols)
	waitVolumes(t, c, names, 2*time.Minute, "Ready", ready)
	// A snapshot and a volume restored from it are part of the steady state.
	s := &storagev1alpha1.StorageSnapshot{ObjectMeta: metav1.ObjectMeta{Name: "idle-000.s1"},
		Spec: storagev1alpha1.StorageSnapshotSpec{Volume: "idle-000", SnapshotName: "s1"}}
	require.NoError(t, c.Create(t.Context(), s))
	waitSnapshot(t, c, s.Name, func(s *storagev1alpha1.StorageSnapshot) bool { return s.Status.ReadyToUse })
	restored := newVolume("idle-restored", localup.ClassLocal, 8<<20)
	restored.Spec.Source = &storagev1alpha1.VolumeSource{Snapshot: s.Name}
	require.NoError(t, c.Create(t.Context(), restored))
	waitVolumes(t, c, []string{restored.Name}, time.Minute, "Ready", ready)
	time.Sleep(5 * time.Second) // let status and topology writes settle
	writes := metric(t, env.ControllerMetrics, "piraeusctl_controller_api_writes_total")
	mutating := metric(t, env.ControllerMetrics, "piraeusctl_controller_agent_mutating_commands_total")
	applies := metric(t, env.ControllerMetrics, "piraeusctl_controller_agent_applies_total")
	time.Sleep(10 * time.Second) // three resyncs
	assert.Equal(t, writes, metric(t, env.ControllerMetrics, "piraeusctl_controller_api_writes_total"), "API writes during idle resyncs")
	assert.Equal(t, mutating, metric(t, env.ControllerMetrics, "piraeusctl_controller_agent_mutating_commands_total"), "mutating host commands during idle resyncs")
	assert.Greater(t, metric(t, env.ControllerMetrics, "piraeusctl_controller_agent_applies_total"), applies, "the resyncs did tell the agents")
}
