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
	require.NoError(t, Export(three, dir))
	files := dirFiles(t, dir)
	require.Len(t, files, len(three)+2, "one file per object, kustomization.yaml and README.md")
	for _, want := range []string{"daemonset-piraeus-datastore-linstor-satellite-worker-3.yaml", "namespace-piraeus-datastore.yaml",
		"storagetopology-default.yaml", "customresourcedefinition-linstorclusters.piraeus.io.yaml", KustomizationFile, "README.md"} {
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
	require.NoError(t, Export(two, dir))
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
}

func TestExportRefusesForeignKustomization(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, KustomizationFile), []byte("resources: [a.yaml]\n"), 0o644))
	err := Export(readFixture(t), dir)
	assert.ErrorContains(t, err, "was not written by piraeusctl export")
}

func TestExportNeverRemovesOutsideTheFolder(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "out")
	victim := filepath.Join(parent, "victim.yaml")
	require.NoError(t, os.WriteFile(victim, []byte("x"), 0o644))
	require.NoError(t, os.MkdirAll(dir, 0o755))
	index := exportHeader + "resources:\n- ../victim.yaml\n- " + victim + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, KustomizationFile), []byte(index), 0o644))
	require.NoError(t, Export(readFixture(t), dir))
	assert.FileExists(t, victim, "file outside the folder removed")
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
