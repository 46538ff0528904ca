package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestGolden runs every command listed in testdata/<case>/commands (one
// invocation per line, paths relative to the repository root) and compares
// its exit code, stdout and stderr with testdata/<case>/golden/<n>.txt.
func TestGolden(t *testing.T) {
	t.Chdir("../..")
	cases, err := filepath.Glob("testdata/*/commands")
	require.NoError(t, err)
	require.NotEmpty(t, cases, "no golden cases found")
	for _, cmdFile := range cases {
		dir := filepath.Dir(cmdFile)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			for i, line := range commandLines(t, cmdFile) {
				golden := filepath.Join(dir, "golden", fmt.Sprintf("%02d.txt", i+1))
				checkGolden(t, golden, transcript(t, line))
			}
		})
	}
}

func commandLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// transcript runs one command line and records what a person would see.
func transcript(t *testing.T, line string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), strings.Fields(line), strings.NewReader(""), &stdout, &stderr)
	return fmt.Sprintf("$ piraeusctl %s\nexit code: %d\n--- stdout\n%s--- stderr\n%s", line, code, stdout.String(), stderr.String())
}

func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing golden file; run go test ./cmd/piraeusctl -update")
	require.Equal(t, string(want), got, "golden %s differs (-want +got); rerun with -update if intended", path)
}
