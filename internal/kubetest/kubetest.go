// Package kubetest starts a real etcd and kube-apiserver for the integration
// tests of several packages (apply now; controller, webhook and HA later).
//
// A package starts one API server from TestMain and its tests ask for it:
//
//	var kube kubetest.Env
//
//	func TestMain(m *testing.M) { os.Exit(kube.Main(m)) }
//
//	func TestSomething(t *testing.T) {
//		cfg := kube.Config(t) // skips or fails with a message naming the fix
//		...
//	}
//
// The binaries come from hack/kube-apiserver.sh ensure (etcd from Debian,
// kube-apiserver built from source); the folder is taken from
// KUBEBUILDER_ASSETS or, when that is unset, from the cache folder the
// script names. Integration tests are skipped only when
// PIRAEUSCTL_SKIP_INTEGRATION=1; a missing binary is a test failure.
package kubetest

import (
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/internal/testsupport"
)

// ServiceCIDR is the Service IP range of every test API server: loopback
// (127/8 is routed to lo, and the API server accepts the range).
const ServiceCIDR = "127.100.0.0/16"

const ensureHint = "run hack/kube-apiserver.sh ensure (or make test-deps), " +
	"or set " + testsupport.SkipIntegrationEnv + "=1 to skip integration tests"

// Env is one etcd + kube-apiserver shared by the tests of a package. The zero
// value is ready for Main.
type Env struct {
	env        *envtest.Environment
	cfg        *rest.Config
	kubeconfig string
	tmpDir     string
	skipped    bool
	startErr   error
}

// Main starts the API server, runs the tests and stops it again; it returns
// the exit code for os.Exit. Unit tests of the package run even when the API
// server cannot start: only tests that call Config fail then.
func (e *Env) Main(m *testing.M) int {
	if testsupport.IntegrationSkipped() {
		e.skipped = true
		slog.Info("integration tests skipped", "env", testsupport.SkipIntegrationEnv+"=1")
		return m.Run()
	}
	e.startErr = e.start()
	defer e.stop()
	return m.Run()
}

// Config returns an admin rest.Config of the running API server. It skips the
// test when PIRAEUSCTL_SKIP_INTEGRATION=1 and fails it when the server could
// not start, naming the script that provides the binaries.
func (e *Env) Config(t testing.TB) *rest.Config {
	t.Helper()
	switch {
	case e.skipped:
		t.Skip("integration test skipped: " + testsupport.SkipIntegrationEnv + "=1")
	case e.startErr != nil:
		require.NoError(t, e.startErr, "kube-apiserver not available")
	case e.cfg == nil:
		require.FailNow(t, "kubetest: Env.Main was not called from TestMain")
	}
	return rest.CopyConfig(e.cfg)
}

// Kubeconfig returns the path of an admin kubeconfig file for kubectl.
func (e *Env) Kubeconfig(t testing.TB) string {
	t.Helper()
	e.Config(t)
	return e.kubeconfig
}

// AssetsDir returns the folder holding the binaries.
func (e *Env) AssetsDir() string {
	if e.env == nil {
		return ""
	}
	return e.env.BinaryAssetsDirectory
}

func (e *Env) start() error {
	dir, err := AssetsDir()
	if err != nil {
		return err
	}
	e.env = &envtest.Environment{
		BinaryAssetsDirectory:    dir,
		ControlPlaneStartTimeout: 90 * time.Second,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
	// Service IPs on loopback: a webhook that names a Service is called at
	// its ClusterIP, which must never leave this machine (envtest's default
	// range is 10.0.0.0/24). Linux routes all of 127/8 to lo.
	e.env.ControlPlane.GetAPIServer().Configure().
		Set("service-cluster-ip-range", ServiceCIDR).
		Set("endpoint-reconciler-type", "none")
	cfg, err := e.env.Start()
	if err != nil {
		return fmt.Errorf("start etcd and kube-apiserver from %s: %w", dir, err)
	}
	e.cfg = cfg
	return e.writeKubeconfig()
}

func (e *Env) writeKubeconfig() error {
	user, err := e.env.AddUser(envtest.User{Name: "kubetest-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("add admin user: %w", err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		return fmt.Errorf("admin kubeconfig: %w", err)
	}
	e.tmpDir, err = os.MkdirTemp("", "kubetest-")
	if err != nil {
		return fmt.Errorf("kubeconfig dir: %w", err)
	}
	e.kubeconfig = filepath.Join(e.tmpDir, "kubeconfig")
	if err := os.WriteFile(e.kubeconfig, data, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", e.kubeconfig, err)
	}
	return nil
}

func (e *Env) stop() {
	if e.env != nil && e.cfg != nil {
		if err := e.env.Stop(); err != nil {
			slog.Warn("stop kube-apiserver", "err", err)
		}
	}
	if e.tmpDir != "" {
		_ = os.RemoveAll(e.tmpDir)
	}
}

// AssetsDir finds the folder with etcd, kube-apiserver and kubectl:
// KUBEBUILDER_ASSETS if set, else the cache folder `hack/kube-apiserver.sh
// dir` names (the script owns the version and the cache location).
func AssetsDir() (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		root, err := testsupport.RepoRoot()
		if err != nil {
			return "", fmt.Errorf("%w; %s", err, ensureHint)
		}
		out, err := exec.Command(filepath.Join(root, "hack", "kube-apiserver.sh"), "dir").Output()
		if err != nil {
			return "", fmt.Errorf("hack/kube-apiserver.sh dir: %w; %s", err, ensureHint)
		}
		dir = strings.TrimSpace(string(out))
	}
	for _, bin := range []string{"etcd", "kube-apiserver", "kubectl"} {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			return "", fmt.Errorf("%s missing in %s: %s", bin, dir, ensureHint)
		}
	}
	return dir, nil
}

// Start starts a private API server for one test (or benchmark) and stops it
// at cleanup; for packages that do not share one from TestMain. It skips or
// fails like Env.Config.
func Start(t testing.TB) *Env {
	t.Helper()
	e := &Env{}
	if testsupport.IntegrationSkipped() {
		e.skipped = true
	} else {
		e.startErr = e.start()
		t.Cleanup(e.stop)
	}
	e.Config(t)
	return e
}
