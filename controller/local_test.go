package controller_test

import (
	"context"
	"flag"
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
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	"github.com/piraeusctl/piraeusctl/controller"
	"github.com/piraeusctl/piraeusctl/internal/kubetest"
	"github.com/piraeusctl/piraeusctl/internal/localup"
	"github.com/piraeusctl/piraeusctl/plan"
)

// binary is piraeusctl built once for the package's tests.
var binary string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	flag.Parse()
	if os.Getenv(kubetest.SkipEnv) == "1" || testing.Short() {
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "piraeusctl-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "piraeusctl")
	cmd := exec.Command("go", "build", "-o", binary, "../cmd/piraeusctl")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build piraeusctl:", err)
		return 1
	}
	return m.Run()
}

// localDatastore starts hack/local-up.sh's datastore for one test.
func localDatastore(t *testing.T, opts localup.Options) *localup.Env {
	t.Helper()
	if binary == "" {
		t.Skip("integration test skipped (" + kubetest.SkipEnv + "=1 or -short)")
	}
	if os.Getuid() != 0 {
		t.Skip("needs root: loop devices and mounts")
	}
	if _, err := kubetest.AssetsDir(); err != nil {
		t.Fatal(err)
	}
	opts.Binary = binary
	opts.Dir = filepath.Join(t.TempDir(), "local")
	opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	opts.ControllerArgs = append([]string{"--resync=20s"}, opts.ControllerArgs...)
	env, err := localup.Up(t.Context(), opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		if t.Failed() {
			dumpLogs(t, env.Dir)
		}
		env.Down()
	})
	return env
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func dumpLogs(t *testing.T, dir string) {
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

func kubeClient(t *testing.T, env *localup.Env) client.Client {
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
func waitVolumes(t *testing.T, c client.Client, names []string, timeout time.Duration, what string, ok func(*storagev1alpha1.StorageVolume) bool) map[string]time.Time {
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
	t.Fatalf("%d of %d volumes not %s after %s: %v", len(missing), len(names), what, timeout, missing[:min(len(missing), 10)])
	return nil
}

func ready(v *storagev1alpha1.StorageVolume) bool {
	return meta.IsStatusConditionTrue(v.Status.Conditions, storagev1alpha1.ConditionReady)
}

func placed(v *storagev1alpha1.StorageVolume) bool {
	return meta.IsStatusConditionTrue(v.Status.Conditions, storagev1alpha1.ConditionPlaced)
}

// createConcurrently creates the volumes from n goroutines at once.
func createConcurrently(t *testing.T, c client.Client, vols []*storagev1alpha1.StorageVolume) {
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
func backingFiles(t *testing.T, env *localup.Env) []string {
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
