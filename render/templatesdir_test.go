package render

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCustomTemplatesDir(t *testing.T) {
	opts := testOptions()
	opts.TemplatesDir = filepath.Join("testdata", "custom-templates")
	p := mustRender(t, newModel(modelOpts{nodes: 2}), opts)
	if hasComponent(p, "ha-controller") {
		t.Error("replaced template still renders the ha-controller")
	}
	if !hasComponent(p, "linstor-controller") {
		t.Error("embedded templates lost")
	}
	var cm map[string]any
	for _, o := range p.Objects {
		if o.GetKind() == "ConfigMap" && o.GetName() == "site-inventory" {
			cm, _ = o.Object["data"].(map[string]any)
		}
	}
	if cm == nil {
		t.Fatal("added template not rendered")
	}
	if cm["site"] != "lab-1" || cm["satellites"] != "linstor-satellite-node-0000,linstor-satellite-node-0001" ||
		!strings.HasPrefix(cm["hash"].(string), "sha256:") || cm["safe"] != "prefix-odd-name-"+hashOf("Odd_Name") {
		t.Errorf("data %v", cm)
	}
}

func TestTemplateErrors(t *testing.T) {
	cases := map[string]string{
		"broken.jsonnet":   "function(input) [ { apiVersion: 'v1', kind: 'ConfigMap' ",
		"noname.jsonnet":   "function(input) [ { apiVersion: 'v1', kind: 'ConfigMap', metadata: {} } ]",
		"escape.jsonnet":   "local x = import '../../etc/passwd'; function(input) [x]",
		"notarray.jsonnet": "function(input) 'text'",
	}
	wants := map[string]string{
		"broken.jsonnet":   "evaluate templates",
		"noname.jsonnet":   "template noname.jsonnet: object 0: apiVersion, kind and metadata.name are required",
		"escape.jsonnet":   "outside the template tree",
		"notarray.jsonnet": "template notarray.jsonnet: want an array of objects",
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			opts := testOptions()
			opts.TemplatesDir = dir
			_, err := Render(t.Context(), newModel(modelOpts{nodes: 1}), opts)
			if err == nil || !strings.Contains(err.Error(), wants[name]) {
				t.Errorf("error %v, want %q", err, wants[name])
			}
		})
	}
	opts := testOptions()
	opts.TemplatesDir = filepath.Join("testdata", "does-not-exist")
	if _, err := Render(t.Context(), newModel(modelOpts{nodes: 1}), opts); err == nil {
		t.Error("missing templates dir accepted")
	}
}

func TestImageOverrides(t *testing.T) {
	opts := testOptions()
	opts.Images = map[string]string{"csi-provisioner": "mirror.example/prov:v1", ImageDRBDModuleLoader: "mirror.example/loader:v2"}
	y := planYAML(t, mustRender(t, newModel(modelOpts{nodes: 1}), opts))
	for _, want := range []string{"image: mirror.example/prov:v1", "image: mirror.example/loader:v2"} {
		if !strings.Contains(y, want) {
			t.Errorf("plan lacks %q", want)
		}
	}
	opts.Images = map[string]string{"csi-provisoner": "x"}
	if _, err := Render(t.Context(), newModel(modelOpts{nodes: 1}), opts); err == nil || !strings.Contains(err.Error(), "unknown image name") {
		t.Errorf("typo accepted: %v", err)
	}
}

func TestModuleLoaderFollowsOSImage(t *testing.T) {
	m := newModel(modelOpts{nodes: 3})
	m.Nodes[0].Status.NodeInfo.OSImage = "Ubuntu 24.04.1 LTS"
	m.Nodes[1].Status.NodeInfo.OSImage = "Rocky Linux 9.4 (Blue Onyx)"
	m.Nodes[2].Status.NodeInfo.OSImage = "Something Else"
	imgs, err := resolveImages("", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"drbd9-noble", "drbd9-almalinux9", "drbd9-noble"}
	for i := range m.Nodes {
		if got := imgs.loader(&m.Nodes[i]); !strings.Contains(got, "/"+want[i]+":") {
			t.Errorf("%s: %s, want %s", m.Nodes[i].Status.NodeInfo.OSImage, got, want[i])
		}
	}
}
