package planfile

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/piraeusctl/piraeusctl/internal/testsupport"
)

func dirFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

const worker3 = "apps/v1/DaemonSet/piraeus-datastore/linstor-satellite-worker-3"

func TestExport(t *testing.T) {
	dir := t.TempDir()
	foreign := filepath.Join(dir, "README.md")
	require.NoError(t, os.WriteFile(foreign, []byte("mine"), 0o644))
	three := readFixture(t)
	_, err := Export(three, dir, ExportOptions{})
	require.NoError(t, err)
	files := dirFiles(t, dir)
	require.Len(t, files, len(three)+3, "one file per object, kustomization.yaml, the ownership record and README.md")
	for _, want := range []string{"daemonset-piraeus-datastore-linstor-satellite-worker-3.yaml", "namespace-piraeus-datastore.yaml",
		"storagetopology-default.yaml", "customresourcedefinition-linstorclusters.piraeus.io.yaml", KustomizationFile, OwnershipFile, "README.md"} {
		assert.Contains(t, files, want)
	}
	back, err := ReadPath(dir)
	require.NoError(t, err)
	assert.Equal(t, planYAML(t, three), planYAML(t, back), "the exported folder reads back as the plan")

	// One satellite fewer: its file goes, nothing else is touched.
	keptFile := filepath.Join(dir, "daemonset-piraeus-datastore-linstor-satellite-worker-1.yaml")
	before, err := os.Stat(keptFile)
	require.NoError(t, err)
	two := without(three, worker3)
	require.Len(t, two, len(three)-1)
	_, err = Export(two, dir, ExportOptions{})
	require.NoError(t, err)
	assert.NoFileExists(t, filepath.Join(dir, "daemonset-piraeus-datastore-linstor-satellite-worker-3.yaml"), "stale satellite file kept")
	data, err := os.ReadFile(foreign)
	require.NoError(t, err)
	assert.Equal(t, "mine", string(data), "foreign file touched")
	after, err := os.Stat(keptFile)
	require.NoError(t, err)
	assert.Equal(t, before.ModTime(), after.ModTime(), "unchanged file rewritten")
	k, err := readExportIndex(dir)
	require.NoError(t, err)
	assert.Equal(t, ExportFileNames(two), k, "kustomization resources")
	own, _, err := readOwnership(dir)
	require.NoError(t, err)
	assert.Len(t, own, len(two)+1, "the ownership record lists every file export wrote")
	assert.NotNil(t, own[KustomizationFile])
	assert.Nil(t, own["README.md"])
}

func TestExportFileNames(t *testing.T) {
	hash := func(id string) string {
		sum := sha256.Sum256([]byte(id))
		return hex.EncodeToString(sum[:])[:exportHashLen]
	}
	got := ExportFileNames(
		[]*unstructured.Unstructured{
			testsupport.Object("apps/v1", "Deployment", "ns", "linstor-controller"),
			testsupport.Object("v1", "Service", "ns", "linstor-controller"),
			testsupport.Object("storage.piraeus.io/v1alpha1", "StorageTopology", "", "default"),
			testsupport.Object("example.com/v1", "Service", "ns", "linstor-controller"),
			testsupport.Object("v1", "Weird Kind", "", "A/B"),
		})
	assert.Equal(t, []string{
		"deployment-ns-linstor-controller.yaml",
		"service-ns-linstor-controller-" + hash("v1/Service/ns/linstor-controller") + ".yaml",
		"storagetopology-default.yaml",
		"service-ns-linstor-controller-" + hash("example.com/v1/Service/ns/linstor-controller") + ".yaml",
		"weird_kind-a_b.yaml",
	}, got)
}
