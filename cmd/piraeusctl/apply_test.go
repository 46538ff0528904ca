package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/internal/kubetest"
)

// runCLI runs piraeusctl with args and returns exit code, stdout and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), args, strings.NewReader(""), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// TestApplyAndDiffCommands drives `apply --plan` and `diff --plan` end to
// end against a private API server and checks their exit codes.
func TestApplyAndDiffCommands(t *testing.T) {
	env := kubetest.Start(t)
	kubeconfig := env.Kubeconfig(t)
	data, err := os.ReadFile("../../apply/testdata/manifests.yaml")
	require.NoError(t, err)
	dir := t.TempDir()
	plan := filepath.Join(dir, "plan.yaml")
	require.NoError(t, os.WriteFile(plan, []byte(strings.ReplaceAll(string(data), "TEST", "cli")), 0o600))
	base := []string{"--kubeconfig", kubeconfig, "-n", "apply-cli", "--plan", plan}

	code, _, stderr := runCLI(t, append([]string{"apply", "--prune"}, base...)...)
	assert.Equal(t, exitOK, code, stderr)
	code, _, _ = runCLI(t, append([]string{"apply", "--prune", "-o", "json"}, base...)...)
	assert.Equal(t, exitOK, code)
	code, _, _ = runCLI(t, append([]string{"diff"}, base...)...)
	assert.Equal(t, exitOK, code)

	changed := strings.ReplaceAll(strings.ReplaceAll(string(data), "TEST", "cli"), "piraeusctl:dev", "piraeusctl:v2")
	require.NoError(t, os.WriteFile(plan, []byte(changed), 0o600))
	code, _, _ = runCLI(t, append([]string{"diff"}, base...)...)
	assert.Equal(t, exitChanged, code)
	code, _, _ = runCLI(t, append([]string{"apply", "--dry-run=server"}, base...)...)
	assert.Equal(t, exitOK, code)
	code, _, _ = runCLI(t, append([]string{"diff"}, base...)...)
	assert.Equal(t, exitChanged, code, "dry run wrote nothing")
	code, _, _ = runCLI(t, append([]string{"apply", "--dry-run=maybe"}, base...)...)
	assert.Equal(t, exitInvalid, code)
}

// TestApplyDemoPlan applies the bundled example's whole plan to a real API
// server: the server accepts every object (a schema mistake in any template
// fails here), a second apply changes nothing, the live diff is empty, and
// the spec read back from the cluster plans again.
func TestApplyDemoPlan(t *testing.T) {
	env := kubetest.Start(t)
	kube := []string{"--kubeconfig", env.Kubeconfig(t)}
	examples := withoutWebhookEnforcement(t, "../../examples")
	code, stdout, stderr := runCLI(t, append([]string{"plan", "-f", examples}, kube...)...)
	require.Equal(t, exitOK, code, stderr)
	objects := strings.Count(stdout, "\n---\n") + 1

	code, stdout, stderr = runCLI(t, append([]string{"apply", "-f", examples}, kube...)...)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stdout, "created")
	require.NotContains(t, stdout, "failed")

	code, stdout, stderr = runCLI(t, append([]string{"apply", "-f", examples}, kube...)...)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stdout, strings.TrimSpace(strings.Fields(stdout)[0])+" objects: ")
	require.NotContains(t, stdout, "created")
	require.NotContains(t, stdout, "configured")
	require.Contains(t, stdout, "unchanged")
	require.GreaterOrEqual(t, objects, 40)

	code, stdout, stderr = runCLI(t, append([]string{"diff", "-f", examples}, kube...)...)
	require.Equal(t, exitOK, code, "live diff after apply:\n%s%s", stdout, stderr)

	// worker-3 leaves the inputs: apply --prune removes its satellite
	// DaemonSet and nothing else.
	removed := withoutWebhookEnforcement(t, "../../testdata/node-removed/input")
	code, _, stderr = runCLI(t, append([]string{"apply", "-f", removed, "--allow-unplaced", "--prune",
		"--previous", "../../testdata/node-removed/previous.yaml"}, kube...)...)
	require.Equal(t, exitOK, code, stderr)
	require.Equal(t, 1, strings.Count(stderr, " pruned"), stderr)
	require.Contains(t, stderr, "DaemonSet/piraeus-datastore/linstor-satellite-worker-3 pruned")
	code, _, stderr = runCLI(t, append([]string{"apply", "-f", examples, "--prune"}, kube...)...)
	require.Equal(t, exitOK, code, stderr)
	require.NotContains(t, stderr, " pruned")

	// The inputs themselves go to the cluster (CRDs exist now), then the
	// plan is built from what the cluster holds.
	code, _, stderr = runCLI(t, append([]string{"apply", "--plan", withoutUIDs(t, examples), "-n", "default"}, kube...)...)
	require.Equal(t, exitOK, code, stderr)
	code, stdout, stderr = runCLI(t, append([]string{"plan", "--from-cluster", "--summary"}, kube...)...)
	require.Equal(t, exitOK, code, stderr)
	assert.Regexp(t, `linstor-satellite \(DaemonSet\) +3\n`, stdout)
	assert.Contains(t, stdout, "3 nodes, 6 storage pools, 2 resource groups, 2 volumes with 6 replicas")
}

// withoutWebhookEnforcement copies a folder of inputs and patches the
// ValidatingWebhookConfiguration to failurePolicy Ignore through the
// LinstorCluster's spec.patches: no operator serves the webhook in this test,
// and with the plan's Fail policy the API server would refuse every write
// of the piraeus.io kinds, by design.
func withoutWebhookEnforcement(t *testing.T, from string) string {
	t.Helper()
	dir := t.TempDir()
	files, err := filepath.Glob(filepath.Join(from, "*.yaml"))
	require.NoError(t, err)
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		if filepath.Base(f) == "cluster.yaml" {
			data = []byte(strings.Replace(string(data), "spec:\n", "spec:\n"+ignoreWebhookPatch, 1))
		}
		require.NoError(t, os.WriteFile(filepath.Join(dir, filepath.Base(f)), data, 0o600))
	}
	return dir
}

const ignoreWebhookPatch = `  patches:
    - target:
        kind: ValidatingWebhookConfiguration
      patch: |
        - {op: replace, path: /webhooks/0/failurePolicy, value: Ignore}
        - {op: replace, path: /webhooks/1/failurePolicy, value: Ignore}
        - {op: replace, path: /webhooks/2/failurePolicy, value: Ignore}
        - {op: replace, path: /webhooks/3/failurePolicy, value: Ignore}
`

// withoutUIDs copies a folder of inputs without their metadata.uid lines:
// uids are the server's to assign when the objects are created.
func withoutUIDs(t *testing.T, dir string) string {
	t.Helper()
	out := t.TempDir()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	require.NoError(t, err)
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		var kept []string
		for _, line := range strings.Split(string(data), "\n") {
			if !strings.HasPrefix(strings.TrimSpace(line), "uid: ") {
				kept = append(kept, line)
			}
		}
		require.NoError(t, os.WriteFile(filepath.Join(out, filepath.Base(f)), []byte(strings.Join(kept, "\n")), 0o600))
	}
	ns := "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n"
	require.NoError(t, os.WriteFile(filepath.Join(out, "namespace.yaml"), []byte(ns), 0o600))
	return out
}
