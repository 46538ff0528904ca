package render

import (
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
)

func dirFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

func TestExport(t *testing.T) {
	dir := t.TempDir()
	foreign := filepath.Join(dir, "README.md")
	if err := os.WriteFile(foreign, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	three := mustRender(t, newModel(modelOpts{nodes: 3}), testOptions())
	if _, err := Export(three, dir, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	files := dirFiles(t, dir)
	if len(files) != len(three.Objects)+3 {
		t.Fatalf("%d files for %d objects: %v", len(files), len(three.Objects), files)
	}
	for _, want := range []string{"daemonset-piraeus-datastore-linstor-satellite-node-0002.yaml", "namespace-piraeus-datastore.yaml",
		"storagetopology-default.yaml", "customresourcedefinition-linstorclusters.piraeus.io.yaml", KustomizationFile, OwnershipFile, "README.md"} {
		if !contains(files, want) {
			t.Errorf("missing %s", want)
		}
	}
	back, err := ReadPlanPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	if planYAML(t, back) != planYAML(t, three) {
		t.Error("exported folder does not read back as the plan")
	}

	// One node fewer: its satellite file goes, nothing else is touched.
	satFile := filepath.Join(dir, "daemonset-piraeus-datastore-linstor-satellite-node-0000.yaml")
	before, _ := os.Stat(satFile)
	two := mustRender(t, newModel(modelOpts{nodeNames: []string{"node-0000", "node-0001"}}), testOptions())
	if _, err := Export(two, dir, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "daemonset-piraeus-datastore-linstor-satellite-node-0002.yaml")); !os.IsNotExist(err) {
		t.Errorf("stale satellite file kept: %v", err)
	}
	if data, err := os.ReadFile(foreign); err != nil || string(data) != "mine" {
		t.Errorf("foreign file touched: %q %v", data, err)
	}
	after, _ := os.Stat(satFile)
	if !after.ModTime().Equal(before.ModTime()) {
		t.Error("unchanged file rewritten")
	}
	k, err := readExportIndex(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(k, ExportFileNames(two.Objects)) {
		t.Errorf("kustomization resources %v", k)
	}
	own, _, err := readOwnership(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(own) != len(two.Objects)+1 || own[KustomizationFile] == nil || own["README.md"] != nil {
		t.Errorf("ownership record %v", own)
	}
}

func TestExportFileNames(t *testing.T) {
	objs := patchObjects()
	objs = append(objs, obj("example.com/v1", "Service", "ns", "linstor-controller", nil), obj("v1", "Weird Kind", "", "A/B", nil))
	got := ExportFileNames(objs)
	want := []string{
		"deployment-ns-linstor-controller.yaml",
		"deployment-ns-linstor-csi-controller.yaml",
		"service-ns-linstor-controller-" + hashOf("v1/Service/ns/linstor-controller") + ".yaml",
		"storagetopology-default.yaml",
		"service-ns-linstor-controller-" + hashOf("example.com/v1/Service/ns/linstor-controller") + ".yaml",
		"weird_kind-a_b.yaml",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
