package apply

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/internal/kubetest"
)

func TestApplyCreatesAllThenNoWrites(t *testing.T) {
	cfg, counter := kubetest.Counting(kube.Config(t))
	_, objs, opts := testCase(t, "life")
	var progress strings.Builder
	opts.Progress = &progress

	res, err := Run(t.Context(), cfg, objs, opts)
	require.NoError(t, err, progress.String())
	assert.Equal(t, len(objs), res.Summary[Created], res.SummaryLine())
	assert.Equal(t, len(objs), strings.Count(progress.String(), " created\n"))
	t.Logf("first apply: %s; %s", res.SummaryLine(), counter)

	counter.Reset()
	res, err = Run(t.Context(), cfg, objs, opts)
	require.NoError(t, err)
	assert.Equal(t, len(objs), res.Summary[Unchanged], res.SummaryLine())
	assert.Empty(t, counter.Writes(), "a no-op apply must not write")
	t.Logf("no-op apply: %s; %s", res.SummaryLine(), counter)
}
