// Package golden compares test output with golden files and rewrites them
// with `go test ./... -update`, the one flag every package's tests share.
// `go test` hands -update to every test binary, so every package with tests
// imports this one, blank (`_ ".../internal/golden"` in an update_test.go)
// where it keeps no golden file; otherwise its binary fails on the unknown
// flag.
//
// Naming: a golden file lives in a folder named golden/ next to the inputs
// of its test (testdata/golden/ for a package, testdata/<case>/golden/ for a
// case folder) and is named for what it holds, with the extension of its
// format: testdata/golden/whatif.json, testdata/golden/res/paths.res,
// testdata/three-nodes/golden/plan-f-input-summary.txt.
package golden

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files")

// Updating reports whether the tests run with -update.
func Updating() bool { return *update }

// Path is testdata/golden/<elem...>, the golden file of a package's test.
func Path(elem ...string) string {
	return filepath.Join(append([]string{"testdata", "golden"}, elem...)...)
}

// Assert compares got with the golden file at path; with -update it writes
// got there instead. A difference fails the test (not at once, so every
// golden of a test is reported) with a diff (-want +got).
func Assert[T ~string | ~[]byte](t testing.TB, path string, got T) {
	t.Helper()
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "golden file missing: run go test with -update to create it")
	assert.Equal(t, string(want), string(got), "golden file %s differs (-want +got); run go test with -update if the change is intended", path)
}

// AssertFile compares the file at gotPath with the golden file at path.
func AssertFile(t testing.TB, path, gotPath string) {
	t.Helper()
	got, err := os.ReadFile(gotPath)
	require.NoError(t, err)
	Assert(t, path, got)
}
