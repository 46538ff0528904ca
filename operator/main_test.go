package operator_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/require"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/piraeusctl/piraeusctl/internal/kubetest"
	"github.com/piraeusctl/piraeusctl/internal/localup"
	"github.com/piraeusctl/piraeusctl/internal/testsupport"
)

// binary is piraeusctl, built once for the package's tests: local-up runs
// the webhook, the agents and the controller with it.
var binary string

func TestMain(m *testing.M) {
	ctrllog.SetLogger(logr.Discard()) // the API server's start logs through controller-runtime
	os.Exit(testsupport.MainWithBinary(m, &binary))
}

// localDatastore starts hack/local-up.sh's datastore with the operator as
// the webhook only: the tests run their own loops.
func localDatastore(t testing.TB) *localup.Env {
	t.Helper()
	return localDatastoreWith(t, localup.Options{})
}

// localDatastoreWith is localDatastore with options (the number of nodes).
func localDatastoreWith(t testing.TB, opts localup.Options) *localup.Env {
	t.Helper()
	if binary == "" {
		t.Skip("integration test skipped (" + testsupport.SkipIntegrationEnv + "=1 or -short)")
	}
	testsupport.RequireRoot(t, "loop devices and mounts")
	_, err := kubetest.AssetsDir()
	require.NoError(t, err)
	opts.Binary, opts.Dir = binary, filepath.Join(t.TempDir(), "local")
	opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	env, err := localup.Up(t.Context(), opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := filepath.Glob(filepath.Join(env.Dir, "logs", "*.log"))
			for _, l := range logs {
				data, _ := os.ReadFile(l)
				lines := strings.Split(string(data), "\n")
				t.Logf("=== %s\n%s", filepath.Base(l), strings.Join(lines[max(0, len(lines)-40):], "\n"))
			}
		}
		env.Down()
	})
	return env
}
