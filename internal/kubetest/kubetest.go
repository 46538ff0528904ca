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
// KUBEBUILDER_ASSETS or, when that is unset, from hack/kube-apiserver.sh's
// cache (~/.cache/piraeusctl/kube/<version>/). Integration tests are skipped only when
// PIRAEUSCTL_SKIP_INTEGRATION=1; a missing binary is a test failure.
package kubetest

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// SkipEnv is the environment variable that, set to 1, skips integration tests.
const SkipEnv = "PIRAEUSCTL_SKIP_INTEGRATION"

// ServiceCIDR keeps Service ClusterIPs on loopback.
const ServiceCIDR = "127.100.0.0/16"

// KubeVersion is the kube-apiserver version hack/kube-apiserver.sh builds.
const KubeVersion = "v1.34.4"

const ensureHint = "run hack/kube-apiserver.sh ensure (or make test-deps), " +
	"or set " + SkipEnv + "=1 to skip integration tests"

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
	if os.Getenv(SkipEnv) == "1" {
		e.skipped = true
		slog.Info("integration tests skipped", "env", SkipEnv+"=1")
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
		t.Skip("integration test skipped: " + SkipEnv + "=1")
	case e.startErr != nil:
		t.Fatalf("kube-apiserver not available: %v", e.startErr)
	case e.cfg == nil:
		t.Fatal("kubetest: Env.Main was not called from TestMain")
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
	// Service IPs on loopback, so that a webhook Service's ClusterIP is
	// this machine (envtest's default 10.0.0.0/24 would leave it).
	e.env.ControlPlane.GetAPIServer().Configure().Set("service-cluster-ip-range", ServiceCIDR)
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
// KUBEBUILDER_ASSETS if set, else hack/kube-apiserver.sh's cache
// ($PIRAEUSCTL_CACHE, else $XDG_CACHE_HOME/piraeusctl, else
// ~/.cache/piraeusctl; then kube/<KubeVersion>).
func AssetsDir() (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		cache := os.Getenv("PIRAEUSCTL_CACHE")
		if cache == "" {
			base, err := os.UserCacheDir()
			if err != nil {
				return "", fmt.Errorf("%w; %s", err, ensureHint)
			}
			cache = filepath.Join(base, "piraeusctl")
		}
		dir = filepath.Join(cache, "kube", KubeVersion)
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
	if os.Getenv(SkipEnv) == "1" {
		e.skipped = true
	} else {
		e.startErr = e.start()
		t.Cleanup(e.stop)
	}
	e.Config(t)
	return e
}
