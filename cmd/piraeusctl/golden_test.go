package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/internal/golden"
)

// TestGolden runs every command listed in testdata/<case>/commands (one
// invocation per line, paths relative to the repository root) and compares
// its exit code, stdout and stderr with testdata/<case>/golden/<command>.txt,
// the file named after the command (see goldenName).
func TestGolden(t *testing.T) {
	t.Chdir("../..")
	cases, err := filepath.Glob("testdata/*/commands")
	require.NoError(t, err)
	require.NotEmpty(t, cases, "no golden cases found")
	for _, cmdFile := range cases {
		dir := filepath.Dir(cmdFile)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			seen := map[string]string{}
			for _, line := range commandLines(t, cmdFile) {
				name := goldenName(dir, line)
				require.NotContains(t, seen, name, "%q and %q share the golden file %s", seen[name], line, name)
				seen[name] = line
				golden.Assert(t, filepath.Join(dir, "golden", name), transcript(t, line))
			}
		})
	}
}

var nonWord = regexp.MustCompile(`[^a-z0-9]+`)

// goldenName names a command's golden file after the command, so inserting a
// command renames nothing: its arguments with the case folder left out of
// paths, lower case, each run of other characters a dash.
// "plan -f testdata/zones/input --fail-node a1,b1" → plan-f-input-fail-node-a1-b1.txt.
func goldenName(caseDir, line string) string {
	args := strings.Fields(line)
	for i, a := range args {
		args[i] = strings.TrimPrefix(a, filepath.ToSlash(caseDir)+"/")
	}
	return strings.Trim(nonWord.ReplaceAllString(strings.ToLower(strings.Join(args, " ")), "-"), "-") + ".txt"
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
