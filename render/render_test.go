package render

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/internal/golden"
	"github.com/piraeusctl/piraeusctl/plan"
	"github.com/piraeusctl/piraeusctl/planfile"
)

func TestRenderGolden(t *testing.T) {
	cases := []struct {
		name  string
		model func() *plan.Model
	}{
		{"three-nodes.yaml", func() *plan.Model { return newModel(modelOpts{nodes: 3, fileDir: "/srv/files"}) }},
		{"features.yaml", featureModel},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			require.NoError(t, planfile.WriteYAML(&buf, mustRender(t, tc.model(), testOptions()).Objects))
			golden.Assert(t, golden.Path(tc.name), buf.Bytes())
		})
	}
}
