package pipeline_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/internal/golden"
	"github.com/piraeusctl/piraeusctl/internal/kindorder"
	"github.com/piraeusctl/piraeusctl/pipeline"
	"github.com/piraeusctl/piraeusctl/plan"
	"github.com/piraeusctl/piraeusctl/plan/placement"
)

func options(files ...string) pipeline.Options {
	return pipeline.Options{
		Files: files,
		Build: plan.BuildOptions{Placement: placement.DefaultOptions()},
	}
}

func TestRun(t *testing.T) {
	res, err := pipeline.Run(t.Context(), options("../testdata/three-nodes/input"))
	require.NoError(t, err)
	objs := res.Plan.Objects
	require.NotEmpty(t, objs)
	assert.Empty(t, res.Warnings())
	assert.Len(t, res.Built.Model.Satellites, 3)
	assert.NotEmpty(t, res.Built.Placement.Volumes)
	// The plan's order is the order apply applies: splitting it into
	// apply's stages reorders nothing.
	assert.Equal(t, objs, slices.Concat(kindorder.Stages(objs)...))
	assert.Equal(t, "Namespace", objs[0].GetKind())
	assert.Equal(t, kindorder.Webhooks, kindorder.ObjectStage(objs[len(objs)-1]))
}

func TestRunNoInput(t *testing.T) {
	_, err := pipeline.Run(t.Context(), pipeline.Options{})
	require.ErrorIs(t, err, pipeline.ErrNoInput)
}

func TestRunInvalidInputIsAnErrorList(t *testing.T) {
	_, err := pipeline.Run(t.Context(), options("../testdata/invalid/unknown-kind/input.yaml"))
	var list plan.ErrorList
	require.ErrorAs(t, err, &list)
	require.NotEmpty(t, list)
}

// TestUpstreamExamplesPlanWithWarnings plans every example of upstream's
// documentation with three nodes: each plans, and a spec.patches target
// that matches nothing here is a warning (golden), not an error.
func TestUpstreamExamplesPlanWithWarnings(t *testing.T) {
	const dir = "../testdata/upstream-examples"
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	var report strings.Builder
	for _, f := range files {
		opts := options(f, filepath.Join(dir, "nodes"))
		opts.Build.PassthroughKinds = []string{"Secret"}
		opts.Render.Version = "v0.0.0-test"
		res, err := pipeline.Run(t.Context(), opts)
		require.NoError(t, err, f)
		for _, w := range res.Warnings() {
			fmt.Fprintf(&report, "warning: %s\n", w)
		}
	}
	golden.Assert(t, golden.Path("upstream-warnings.txt"), report.String())
	assert.Contains(t, report.String(), "linstorsatelliteconfiguration-11.yaml", "the satellite TOML patch warns")
}
