package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVersionStamp builds the binary as `make build` does with a stamp and
// reads it back: `piraeusctl version` and the plan's default image tag
// must both show it.
func TestVersionStamp(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	const stamp = "v9.8.7-stamp-test"
	bin := filepath.Join(t.TempDir(), "piraeusctl")
	out, err := exec.CommandContext(t.Context(), "make", "-s", "-C", "../..", "build", "BIN="+bin, "VERSION="+stamp).CombinedOutput()
	require.NoError(t, err, "%s", out)

	out, err = exec.CommandContext(t.Context(), bin, "version").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Equal(t, "piraeusctl "+stamp+"\n", string(out))

	examples, err := filepath.Abs("../../examples")
	require.NoError(t, err)
	plan, err := exec.CommandContext(t.Context(), bin, "plan", "-f", examples).Output()
	require.NoError(t, err)
	// Checked without printing the plan: it is thousands of lines.
	assert.True(t, strings.Contains(string(plan), "image: quay.io/piraeusdatastore/piraeusctl:"+stamp+"\n"), "the plan runs the stamped image")
	assert.False(t, strings.Contains(string(plan), "piraeusctl:v0.1.0"), "no workload keeps the shipped tag")

	// --image pins by digest, unchanged.
	const pinned = "registry.example.com/piraeusctl@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	plan, err = exec.CommandContext(t.Context(), bin, "plan", "-f", examples, "-o", "json", "--image", "piraeusctl="+pinned).Output()
	require.NoError(t, err)
	assert.True(t, strings.Contains(string(plan), `"image": "`+pinned+`"`), "the plan pins the image by digest")
	assert.False(t, strings.Contains(string(plan), "quay.io/piraeusdatastore/piraeusctl"), "no workload keeps the tag")
}

// TestPlanPrivateRegistry is the README's private-registry recipe: one
// LinstorCluster patch gives every component's ServiceAccount the pull
// secret, and --image pins piraeusctl by digest in every workload.
func TestPlanPrivateRegistry(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"cluster.yaml", "nodes.yaml", "storage.yaml"} {
		data, err := os.ReadFile(filepath.Join("../../examples", f))
		require.NoError(t, err)
		if f == "cluster.yaml" {
			const head = "kind: LinstorCluster\nmetadata:\n  name: linstorcluster\nspec:\n"
			require.Contains(t, string(data), head)
			data = []byte(strings.Replace(string(data), head, head+`  patches:
    - target:
        kind: ServiceAccount
      patch: |
        apiVersion: v1
        kind: ServiceAccount
        metadata:
          name: any
        imagePullSecrets:
          - name: registry-example-com
`, 1))
		}
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), data, 0o644))
	}
	const pinned = "registry.example.com/piraeusctl@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"plan", "-f", dir, "-o", "json", "--image", "piraeusctl=" + pinned}, nil, &stdout, &stderr)
	require.Equal(t, exitOK, code, stderr.String())
	var list struct {
		Items []map[string]any `json:"items"`
	}
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &list))
	var accounts, containers int
	for _, o := range list.Items {
		switch o["kind"] {
		case "ServiceAccount":
			accounts++
			assert.Equal(t, []any{map[string]any{"name": "registry-example-com"}}, o["imagePullSecrets"], "%v", o["metadata"])
		case "Deployment", "DaemonSet":
			spec := o["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
			for _, c := range spec["containers"].([]any) {
				c := c.(map[string]any)
				if c["command"] != nil && c["command"].([]any)[0] == "piraeusctl" {
					containers++
					assert.Equal(t, pinned, c["image"], "%v", o["metadata"])
				}
			}
		}
	}
	assert.Equal(t, 7, accounts, "one ServiceAccount per component")
	assert.GreaterOrEqual(t, containers, 7, "every component runs piraeusctl")
}
