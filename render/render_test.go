package render

import (
	"bytes"
	"testing"
)

func TestRenderGolden(t *testing.T) {
	cases := map[string]func() *Plan{
		"three-nodes.yaml": func() *Plan { return mustRender(t, newModel(modelOpts{nodes: 3, fileDir: "/srv/files"}), testOptions()) },
	}
	for name, render := range cases {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := render().WriteYAML(&buf); err != nil {
				t.Fatal(err)
			}
			goldenCompare(t, name, buf.Bytes())
		})
	}
}
