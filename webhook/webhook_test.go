package webhook

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/piraeusctl/piraeusctl/gencert"
)

// kubectl runs the installed kubectl against the test API server with
// stdin and returns its combined output.
func kubectl(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	path, err := exec.LookPath("kubectl")
	require.NoError(t, err, "kubectl not found: install it (apt-get install kubectl) or put it on PATH")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, append([]string{"--kubeconfig", kube.Kubeconfig(t)}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

const satelliteYAML = `apiVersion: piraeus.io/v1
kind: LinstorSatelliteConfiguration
metadata:
  name: storage
spec:
  storagePools:
`

const (
	vgPool    = "  - name: vg1\n    lvmPool:\n      volumeGroup: VG\n"
	filesPool = "  - name: files\n    filePool: {}\n"
)

// topologyYAML is node a with the pools LinstorSatelliteConfiguration
// "storage" gave it, and volume pvc-1 in pool "files" on it.
const topologyYAML = `apiVersion: storage.piraeus.io/v1alpha1
kind: StorageTopology
metadata:
  name: piraeus
spec:
  allocation: {portMin: 7000, portMax: 7999, minorMin: 1000, minorMax: 1048575}
  nodes:
  - name: a
    storagePools:
    - {name: vg1, providerKind: LVM, volumeGroup: linstor, satelliteConfiguration: storage}
    - {name: files, providerKind: FILE, directory: /var/lib/linstor-pools/files, satelliteConfiguration: storage}
---
apiVersion: storage.piraeus.io/v1alpha1
kind: StorageVolume
metadata:
  name: pvc-1
spec:
  resourceGroup: rg
  volumes:
  - {number: 0, sizeBytes: 1073741824}
  replicas:
  - {node: a, storagePool: files, nodeId: 0, port: 7000, minors: [1000]}
`

// dryRunCreate creates the YAML object with a server-side dry run.
func (e *testEnv) dryRunCreate(t *testing.T, doc string) error {
	t.Helper()
	obj := &unstructured.Unstructured{}
	require.NoError(t, yaml.Unmarshal([]byte(doc), &obj.Object))
	client, err := dynamic.NewForConfig(e.cfg)
	require.NoError(t, err)
	gvr := schema.GroupVersionResource{Group: "piraeus.io", Version: "v1", Resource: "linstorsatelliteconfigurations"}
	_, err = client.Resource(gvr).Create(t.Context(), obj, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	return err
}

// TestWebhookWithKubectl: the API server calls the webhook served here; an
// invalid object created with kubectl is denied with plan's field path and
// message, a valid one is admitted, and data-losing updates are denied
// unless the StorageTopology shows them safe.
func TestWebhookWithKubectl(t *testing.T) {
	e := newTestEnv(t)
	dir := t.TempDir()
	g, err := gencert.New(e.client, e.gencertOptions())
	require.NoError(t, err)
	_, err = g.Pass(t.Context())
	require.NoError(t, err)
	e.secretSync(t, dir, 200*time.Millisecond)
	e.createWebhookConfig(t, startServer(t, e.cfg, dir))
	res, err := g.Pass(t.Context())
	require.NoError(t, err)
	require.True(t, res.BundleWritten, "the new configuration gets the caBundle")

	invalid := satelliteYAML + "  - name: nopool\n    source:\n      hostDevices: [sdb]\n"
	err = wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, 20*time.Second, true, func(context.Context) (bool, error) {
		err := e.dryRunCreate(t, invalid)
		return err != nil && strings.Contains(err.Error(), "denied the request"), nil
	})
	require.NoError(t, err, "the webhook never denied the invalid object")
	err = e.dryRunCreate(t, invalid)
	require.ErrorContains(t, err, `admission webhook "vlinstorsatelliteconfiguration.piraeus.io" denied the request: LinstorSatelliteConfiguration/storage: spec.storagePools[0]: Invalid value: "nopool": expected exactly one of lvmPool`)

	out, err := kubectl(t, invalid, "create", "-f", "-")
	require.Error(t, err, out)
	require.Contains(t, out, `The LinstorSatelliteConfiguration "storage" is invalid:`)
	require.Contains(t, out, `* spec.storagePools[0]: Invalid value: "nopool": expected exactly one of lvmPool, lvmThinPool, filePool, fileThinPool, zfsPool, zfsThinPool; found 0`)
	require.Contains(t, out, `* spec.storagePools[0].source.hostDevices[0]: Invalid value: "sdb": expected a device path under /dev/`)

	out, err = kubectl(t, satelliteYAML+vgPool+filesPool, "create", "-f", "-")
	require.NoError(t, err, out)
	require.Contains(t, out, "linstorsatelliteconfiguration.piraeus.io/storage created")

	out, err = kubectl(t, satelliteYAML+strings.Replace(vgPool, "VG", "other", 1)+filesPool, "apply", "-f", "-")
	require.Error(t, err, "a new volume group must be refused: %s", out)
	require.Contains(t, out, `LinstorSatelliteConfiguration/storage: spec.storagePools[0].lvmPool.volumeGroup: Forbidden: storage pool "vg1" cannot change its volume group from "VG" to "other"`)

	out, err = kubectl(t, satelliteYAML+vgPool, "apply", "-f", "-")
	require.Error(t, err, "without a StorageTopology a removed pool may hold volumes: %s", out)
	require.Contains(t, out, `spec.storagePools: Forbidden: storage pool "files" was removed, but it may still hold volumes`)

	out, err = kubectl(t, topologyYAML, "create", "-f", "-")
	require.NoError(t, err, out)
	out, err = kubectl(t, satelliteYAML+vgPool, "apply", "-f", "-")
	require.Error(t, err, out)
	require.Contains(t, out, `storage pool "files" was removed, but it still holds 1 replica(s) (pvc-1 on a)`)

	out, err = kubectl(t, satelliteYAML+filesPool, "apply", "-f", "-")
	require.NoError(t, err, "the topology shows vg1 empty, so it may go: %s", out)
	require.Contains(t, out, "configured")

	out, err = kubectl(t, strings.Replace(topologyYAML, "port: 7000", "port: 7001", 1), "apply", "-f", "-")
	require.Error(t, err, out)
	require.Contains(t, out, `The StorageVolume "pvc-1" is invalid: spec.replicas[0]: Invalid value: "object": the DRBD port of a replica cannot change once allocated: its peers connect to it`)

	// A patch copied from upstream that targets nothing here is admitted
	// with plan's warning, planned with the cluster's nodes.
	out, err = kubectl(t, "apiVersion: v1\nkind: Node\nmetadata:\n  name: node-"+e.namespace+"\n", "create", "-f", "-")
	require.NoError(t, err, out)
	out, err = kubectl(t, strings.Replace(tomlPatchYAML, "name: storage", "name: toml", 1), "create", "-f", "-")
	require.NoError(t, err, out)
	require.Contains(t, out, "Warning: LinstorSatelliteConfiguration/toml: spec.patches[0].target: target (kind=ConfigMap, name=satellite-config) "+
		"matches no object in the plan, so the patch is skipped (as upstream skips it): upstream's satellite configuration file")
	require.Contains(t, out, "linstorsatelliteconfiguration.piraeus.io/toml created")
}
