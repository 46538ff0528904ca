// Package testsupport is what the tests of several packages share besides
// golden files (internal/golden) and API servers (internal/kubetest): the
// environment variables that skip integration tests, the repository root,
// and the shipped CRDs installed into a test API server.
package testsupport

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Environment variables that skip tests explicitly; tests are never skipped
// silently.
const (
	// SkipIntegrationEnv, set to 1, skips every test that needs a real
	// component (API server, loop devices, drbd-utils, the lab).
	SkipIntegrationEnv = "PIRAEUSCTL_SKIP_INTEGRATION"
	// SkipLabEnv, set to 1, skips only the qemu lab (internal/lab).
	SkipLabEnv = "PIRAEUSCTL_SKIP_LAB"
)

// IntegrationSkipped reports whether SkipIntegrationEnv=1.
func IntegrationSkipped() bool { return os.Getenv(SkipIntegrationEnv) == "1" }

// SkipIntegration skips t when SkipIntegrationEnv=1, saying what is not run.
func SkipIntegration(t testing.TB, what string) {
	t.Helper()
	if IntegrationSkipped() {
		t.Skip(SkipIntegrationEnv + "=1: " + what)
	}
}

// RequireRoot skips t with SkipIntegration, and fails it when not run as
// root (what it tests, loop devices, mounts or namespaces, needs root) or
// when one of the host tools is missing.
func RequireRoot(t testing.TB, what string, tools ...string) {
	t.Helper()
	SkipIntegration(t, what)
	require.Zero(t, os.Geteuid(), "%s needs root: run as root (or set %s=1)", what, SkipIntegrationEnv)
	for _, tool := range tools {
		_, err := exec.LookPath(tool)
		require.NoError(t, err, "%s needs %s: run make test-deps (hack/install-deps.sh installs it)", what, tool)
	}
}

// RepoRoot walks up from the working directory to the folder holding go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Object is a bare Kubernetes object for tests: apiVersion, kind, name and,
// when not empty, namespace.
func Object(apiVersion, kind, namespace, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(namespace)
	u.SetName(name)
	return u
}
