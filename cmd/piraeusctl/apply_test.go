package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"

	"github.com/piraeusctl/piraeusctl/gencert"
	"github.com/piraeusctl/piraeusctl/internal/kubetest"
	"github.com/piraeusctl/piraeusctl/plan"
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
// fails here), gencert and the operator then serve the plan's webhook the
// way the cluster does, a second apply changes nothing, the live diff is
// empty, pruning removes exactly a departed node's satellite, and the spec
// read back from the cluster plans again.
func TestApplyDemoPlan(t *testing.T) {
	env := kubetest.Start(t)
	kube := []string{"--kubeconfig", env.Kubeconfig(t)}
	examples := "../../examples"
	code, stdout, stderr := runCLI(t, append([]string{"plan", "-f", examples}, kube...)...)
	require.Equal(t, exitOK, code, stderr)
	objects := strings.Count(stdout, "\n---\n") + 1
	applied := filepath.Join(t.TempDir(), "applied.yaml")
	require.NoError(t, os.WriteFile(applied, []byte(stdout), 0o600))

	code, stdout, stderr = runCLI(t, append([]string{"apply", "-f", examples}, kube...)...)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stdout, "created")
	require.NotContains(t, stdout, "failed")
	// The webhook configuration came last and fails closed: from now on the
	// API server calls the webhook for every write of the piraeus.io kinds.
	serveWebhook(t, env)

	code, stdout, stderr = runCLI(t, append([]string{"apply", "-f", examples}, kube...)...)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stdout, strings.TrimSpace(strings.Fields(stdout)[0])+" objects: ")
	require.NotContains(t, stdout, "created")
	require.NotContains(t, stdout, "configured")
	require.Contains(t, stdout, "unchanged")
	require.GreaterOrEqual(t, objects, 40)

	code, stdout, stderr = runCLI(t, append([]string{"diff", "-f", examples}, kube...)...)
	require.Equal(t, exitOK, code, "live diff after apply:\n%s%s", stdout, stderr)

	// The controller's part: the volumes' replicas on worker-3 are
	// deployed, as their status says.
	dyn, err := dynamic.NewForConfig(env.Config(t))
	require.NoError(t, err)
	markDeployed(t, dyn, "worker-3")

	// worker-3 leaves the inputs while its volumes still have replicas
	// there. Its deletion policy is the default, Retain (as upstream): the
	// StorageTopology keeps it, lost, with its replicas, nothing moves, and
	// apply --prune removes its satellite DaemonSet and LinstorSatellite
	// and nothing else.
	removed := "../../testdata/node-removed/input"
	removeArgs := append([]string{"apply", "-f", removed, "--allow-unplaced", "--prune", "--previous", applied}, kube...)
	code, _, stderr = runCLI(t, removeArgs...)
	require.Equal(t, exitOK, code, stderr)
	require.EqualValues(t, 2, strings.Count(stderr, " pruned"), stderr)
	require.Contains(t, stderr, "DaemonSet/piraeus-datastore/linstor-satellite-worker-3 pruned")
	require.Contains(t, stderr, "LinstorSatellite/worker-3 pruned")
	topologies := dyn.Resource(storagev1alpha1.GroupVersion.WithResource("storagetopologies"))
	live, err := topologies.Get(t.Context(), "default", metav1.GetOptions{})
	require.NoError(t, err)
	nodes, _, _ := unstructured.NestedSlice(live.Object, "spec", "nodes")
	retained := slices.IndexFunc(nodes, func(n any) bool { return n.(map[string]any)["name"] == "worker-3" })
	require.GreaterOrEqual(t, retained, 0, "worker-3 retained in the topology")
	policy, _, _ := unstructured.NestedString(nodes[retained].(map[string]any), "leaving", "policy")
	require.Equal(t, "Retain", policy)

	// The webhook refuses dropping the node while it holds replicas (say
	// by hand), until it is named in the topology's force-remove
	// annotation (as `kubectl annotate` would): gone for good.
	drop := []byte(fmt.Sprintf(`[{"op":"remove","path":"/spec/nodes/%d"}]`, retained))
	_, err = topologies.Patch(t.Context(), "default", types.JSONPatchType, drop, metav1.PatchOptions{})
	require.ErrorContains(t, err, `node "worker-3" was removed, but it still holds`)
	patch := []byte(`{"metadata":{"annotations":{"` + plan.ForceRemoveNodesAnnotation + `":"worker-3"}}}`)
	_, err = topologies.Patch(t.Context(), "default", types.MergePatchType, patch, metav1.PatchOptions{})
	require.NoError(t, err)
	_, err = topologies.Patch(t.Context(), "default", types.JSONPatchType, drop, metav1.PatchOptions{})
	require.NoError(t, err)
	code, _, stderr = runCLI(t, append([]string{"apply", "-f", examples, "--prune"}, kube...)...)
	require.Equal(t, exitOK, code, stderr)
	require.NotContains(t, stderr, " pruned")

	// The webhook answers for the plan's Service: an invalid object is
	// denied with plan's field path.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("apiVersion: piraeus.io/v1\nkind: LinstorSatelliteConfiguration\n"+
		"metadata: {name: bad}\nspec:\n  storagePools: [{name: nopool}]\n"), 0o600))
	code, _, stderr = runCLI(t, append([]string{"apply", "--plan", bad, "-n", "default"}, kube...)...)
	require.Equal(t, exitInvalid, code)
	require.Contains(t, stderr, `denied the request: LinstorSatelliteConfiguration/bad: spec.storagePools[0]: Invalid value: "nopool"`)

	// The inputs themselves go to the cluster, through the webhook, then the
	// plan is built from what the cluster holds.
	code, _, stderr = runCLI(t, append([]string{"apply", "--plan", withoutUIDs(t, examples), "-n", "default"}, kube...)...)
	require.Equal(t, exitOK, code, stderr)
	code, stdout, stderr = runCLI(t, append([]string{"plan", "--from-cluster", "--summary"}, kube...)...)
	require.Equal(t, exitOK, code, stderr)
	assert.Regexp(t, `linstor-satellite \(DaemonSet\) +3\n`, stdout)
	// The cluster's StorageVolumes are storage state and plan again: the
	// example's two and the two the node-removed inputs brought (prune
	// never deletes a volume).
	assert.Contains(t, stdout, "3 nodes, 6 storage pools, 2 resource groups, 4 volumes with 12 replicas")
}

// markDeployed writes, as the controller would, a status saying each
// StorageVolume's replica on node is deployed.
func markDeployed(t *testing.T, dyn dynamic.Interface, node string) {
	t.Helper()
	volumes := dyn.Resource(storagev1alpha1.GroupVersion.WithResource("storagevolumes"))
	list, err := volumes.List(t.Context(), metav1.ListOptions{})
	require.NoError(t, err)
	marked := 0
	for i := range list.Items {
		v := &list.Items[i]
		replicas, _, _ := unstructured.NestedSlice(v.Object, "spec", "replicas")
		for _, r := range replicas {
			if r.(map[string]any)["node"] != node {
				continue
			}
			require.NoError(t, unstructured.SetNestedSlice(v.Object, []any{map[string]any{"node": node, "deployed": true}}, "status", "replicas"))
			_, err := volumes.UpdateStatus(t.Context(), v, metav1.UpdateOptions{})
			require.NoError(t, err)
			marked++
		}
	}
	require.Positive(t, marked, "no volume has a replica on %s", node)
}

// serveWebhook does what the plan's gencert and operator Deployments do in
// a cluster: gencert --once writes the webhook's certificate and sets the
// caBundle, and the operator serves the webhook with that certificate at
// the ClusterIP of the plan's webhook Service, which the test API server
// allocates on loopback. It serves until the test ends.
func serveWebhook(t *testing.T, env *kubetest.Env) {
	t.Helper()
	kubeconfig := env.Kubeconfig(t)
	code, _, stderr := runCLI(t, "gencert", "--once", "--kubeconfig", kubeconfig, "-n", plan.DefaultNamespace, "--health-addr", "")
	require.Equal(t, exitOK, code, stderr)

	client, err := kubernetes.NewForConfig(env.Config(t))
	require.NoError(t, err)
	opts := gencert.DefaultOptions()
	secret, err := client.CoreV1().Secrets(plan.DefaultNamespace).Get(t.Context(), opts.SecretName, metav1.GetOptions{})
	require.NoError(t, err)
	dir := t.TempDir()
	for _, key := range []string{corev1.TLSCertKey, corev1.TLSPrivateKeyKey} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, key), secret.Data[key], 0o600))
	}
	svc, err := client.CoreV1().Services(plan.DefaultNamespace).Get(t.Context(), opts.ServiceName, metav1.GetOptions{})
	require.NoError(t, err)
	_, loopback, err := net.ParseCIDR(kubetest.ServiceCIDR)
	require.NoError(t, err)
	ip := net.ParseIP(svc.Spec.ClusterIP)
	require.True(t, loopback.Contains(ip) && ip.IsLoopback(), "webhook Service at %s: off this machine", ip)
	addr := net.JoinHostPort(ip.String(), strconv.Itoa(int(svc.Spec.Ports[0].Port)))
	startOperator(t, "--kubeconfig", kubeconfig, "--cert-dir", dir, "--webhook-addr", addr)
}

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
