package plan_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/plan"
)

// FuzzLoad feeds arbitrary bytes to the loader: it must return a model or
// an error, never panic, and every error must name its source.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("../examples/*.yaml")
	more, _ := filepath.Glob("../testdata/*/input/*.yaml")
	invalid, _ := filepath.Glob("../testdata/invalid/*/input.yaml")
	upstream, _ := filepath.Glob("../testdata/upstream-examples/*.yaml")
	for _, p := range append(append(append(seeds, more...), invalid...), upstream...) {
		data, err := os.ReadFile(p)
		require.NoError(f, err)
		f.Add(data)
	}
	f.Add([]byte("apiVersion: v1\nkind: List\nitems: [1, {kind: Node}]\n"))
	f.Add([]byte("a: &x [*x]\n"))
	schemas, err := plan.NewSchemas()
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := plan.Load(t.Context(), []plan.Source{{Name: "fuzz.yaml", Data: data}}, plan.LoadOptions{Schemas: schemas})
		if list, ok := err.(plan.ErrorList); ok {
			for _, e := range list {
				require.Equal(t, "fuzz.yaml", e.Pos.Source, "error without source: %v", e)
			}
		}
	})
}
