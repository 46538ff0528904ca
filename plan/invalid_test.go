package plan_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/internal/golden"
	"github.com/piraeusctl/piraeusctl/plan"
)

// invalidDir holds malformed inputs: <case>/input.yaml and the exact error
// text the loader must print for it in <case>/golden/error.txt.
const invalidDir = "../testdata/invalid"

// TestInvalidInputs loads every malformed input and compares the whole
// ErrorList text with its golden file. Sources are named by their path from
// the repository root, as a user running piraeusctl there would see them.
func TestInvalidInputs(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join(invalidDir, "*"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(dirs), 25, "the malformed-input cases are missing")
	schemas, err := plan.NewSchemas()
	require.NoError(t, err)
	for _, dir := range dirs {
		name := filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, "input.yaml"))
			require.NoError(t, err)
			src := plan.Source{Name: filepath.ToSlash(filepath.Join("testdata", "invalid", name, "input.yaml")), Data: data}
			_, err = plan.Load(t.Context(), []plan.Source{src}, plan.LoadOptions{Schemas: schemas})
			require.Error(t, err, "malformed input loaded without error")
			var list plan.ErrorList
			require.ErrorAs(t, err, &list, "invalid input must give an ErrorList, not %T", err)
			for _, e := range list {
				require.Equal(t, src.Name, e.Pos.Source, "every error names its file")
				require.NotZero(t, e.Pos.Line, "every error has a line: %v", e)
			}
			got := err.Error() + "\n"
			golden.Assert(t, filepath.Join(dir, "golden", "error.txt"), got)
		})
	}
}
