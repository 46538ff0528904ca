package render

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCustomTemplatesDir(t *testing.T) {
	opts := testOptions()
	opts.TemplatesDir = filepath.Join("testdata", "custom-templates")
	p := mustRender(t, newModel(modelOpts{nodes: 2}), opts)
	assert.False(t, hasComponent(p, "ha-controller"), "replaced template still renders the ha-controller")
	assert.True(t, hasComponent(p, "linstor-controller"), "embedded templates lost")
	var cm map[string]any
	for _, o := range p.Objects {
		if o.GetKind() == "ConfigMap" && o.GetName() == "site-inventory" {
			cm, _ = o.Object["data"].(map[string]any)
		}
	}
	require.NotNil(t, cm, "added template not rendered")
	assert.False(t, cm["site"] != "lab-1" || cm["satellites"] != "linstor-satellite-node-0000,linstor-satellite-node-0001" ||
		!strings.HasPrefix(cm["hash"].(string), "sha256:") || cm["safe"] != "prefix-odd-name-"+hashOf("Odd_Name"), "data %v", cm)
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
			require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
			opts := testOptions()
			opts.TemplatesDir = dir
			_, err := Render(t.Context(), newModel(modelOpts{nodes: 1}), opts)
			assert.ErrorContains(t, err, wants[name], "error %v, want %q", err, wants[name])
		})
	}
	opts := testOptions()
	opts.TemplatesDir = filepath.Join("testdata", "does-not-exist")
	_, err := Render(t.Context(), newModel(modelOpts{nodes: 1}), opts)
	assert.Error(t, err, "missing templates dir accepted")
}

func TestImageOverrides(t *testing.T) {
	opts := testOptions()
	opts.Images = map[string]string{"csi-provisioner": "mirror.example/prov:v1", ImageDRBDModuleLoader: "mirror.example/loader:v2"}
	y := planYAML(t, mustRender(t, newModel(modelOpts{nodes: 1}), opts))
	for _, want := range []string{"image: mirror.example/prov:v1", "image: mirror.example/loader:v2"} {
		assert.Contains(t, y, want, "plan lacks %q", want)
	}
	opts.Images = map[string]string{"csi-provisoner": "x"}
	_, err := Render(t.Context(), newModel(modelOpts{nodes: 1}), opts)
	assert.ErrorContains(t, err, "unknown image name", "typo accepted")
}

func TestModuleLoaderFollowsOSImage(t *testing.T) {
	m := newModel(modelOpts{nodes: 3})
	m.Nodes[0].Status.NodeInfo.OSImage = "Ubuntu 24.04.1 LTS"
	m.Nodes[1].Status.NodeInfo.OSImage = "Rocky Linux 9.4 (Blue Onyx)"
	m.Nodes[2].Status.NodeInfo.OSImage = "Something Else"
	imgs, err := resolveImages("", "", nil)
	require.NoError(t, err)
	want := []string{"drbd9-noble", "drbd9-almalinux9", "drbd9-noble"}
	for i := range m.Nodes {
		got := imgs.loader(&m.Nodes[i])
		assert.Contains(t, got, "/"+want[i]+":", "%s: %s, want %s", m.Nodes[i].Status.NodeInfo.OSImage, got, want[i])
	}
}
