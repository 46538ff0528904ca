package apply

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/internal/kubetest"
)

// BenchmarkApply compares piraeusctl with `kubectl apply --server-side` on the
// same manifests: a first apply (fresh objects every iteration) and a no-op
// apply, with the requests of each per operation.
func BenchmarkApply(b *testing.B) {
	b.Run("piraeusctl/first", func(b *testing.B) { benchPiraeusctl(b, false) })
	b.Run("piraeusctl/noop", func(b *testing.B) { benchPiraeusctl(b, true) })
	b.Run("kubectl/first", func(b *testing.B) { benchKubectl(b, false) })
	b.Run("kubectl/noop", func(b *testing.B) { benchKubectl(b, true) })
}

func benchPiraeusctl(b *testing.B, noop bool) {
	cfg, counter := kubetest.Counting(kube.Config(b))
	id := testID("bp")
	objs, opts := testObjects(b, id), testOptions(id)
	if noop {
		_, err := Run(b.Context(), cfg, objs, opts)
		require.NoError(b, err)
	}
	counter.Reset()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if !noop {
			b.StopTimer()
			id = testID("bp")
			objs, opts = testObjects(b, id), testOptions(id)
			b.StartTimer()
		}
		_, err := Run(b.Context(), cfg, objs, opts)
		require.NoError(b, err)
	}
	b.ReportMetric(float64(counter.Total())/float64(b.N), "requests/op")
	b.ReportMetric(float64(len(counter.Writes()))/float64(b.N), "writes/op")
}

var kubectlRequest = regexp.MustCompile(`\] "?(GET|POST|PUT|PATCH|DELETE)"? `)

func benchKubectl(b *testing.B, noop bool) {
	kubeconfig := kube.Kubeconfig(b)
	cache := b.TempDir()
	write := func(id string) string {
		data, err := os.ReadFile("testdata/manifests.yaml")
		require.NoError(b, err)
		path := filepath.Join(b.TempDir(), "plan.yaml")
		require.NoError(b, os.WriteFile(path, []byte(strings.ReplaceAll(string(data), "TEST", id)), 0o600))
		return path
	}
	// kubectl cannot map a custom resource whose CRD is in the same file (it
	// exits 1 after applying everything else): a first apply tolerates that.
	apply := func(path string, mustSucceed bool) int {
		cmd := exec.CommandContext(b.Context(), filepath.Join(kube.AssetsDir(), "kubectl"), "--kubeconfig", kubeconfig,
			"--cache-dir", cache, "-v=6", "apply", "--server-side", "-f", path)
		out, err := cmd.CombinedOutput()
		require.False(b, err != nil && mustSucceed, "kubectl: %v\n%s", err, out)
		return len(kubectlRequest.FindAll(out, -1))
	}
	path := write(testID("bk"))
	requests := 0
	// The no-op case starts from a converged state (kubectl needs two runs).
	if noop {
		apply(path, false)
		apply(path, true)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if !noop {
			b.StopTimer()
			path = write(testID("bk"))
			b.StartTimer()
		}
		requests += apply(path, noop)
	}
	b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
}
