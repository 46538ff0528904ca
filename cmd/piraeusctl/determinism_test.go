package main

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPlanIsDeterministic splits the inputs of golden cases into one
// document per file, shuffles document order and file names, and requires
// byte-identical plans.
func TestPlanIsDeterministic(t *testing.T) {
	t.Chdir("../..")
	for _, c := range []string{"three-nodes", "zones", "storage-classes", "patches"} {
		t.Run(c, func(t *testing.T) {
			docs := readDocuments(t, filepath.Join("testdata", c, "input"))
			want := planOf(t, writeShuffled(t, docs, rand.New(rand.NewSource(0))))
			require.NotEmpty(t, want)
			for seed := int64(1); seed <= 5; seed++ {
				got := planOf(t, writeShuffled(t, docs, rand.New(rand.NewSource(seed))))
				require.Equal(t, want, got, "seed %d gives a different plan", seed)
			}
		})
	}
}

func readDocuments(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	require.NoError(t, err)
	var docs []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, d := range strings.Split(string(data), "\n---\n") {
			if strings.TrimSpace(d) != "" {
				docs = append(docs, d)
			}
		}
	}
	return docs
}

// writeShuffled writes each document to its own file in a new folder, in a
// random order under random names.
func writeShuffled(t *testing.T, docs []string, rng *rand.Rand) string {
	t.Helper()
	dir := t.TempDir()
	order := rng.Perm(len(docs))
	for i, j := range order {
		name := fmt.Sprintf("%08x-%d.yaml", rng.Uint32(), i)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(docs[j]), 0o644))
	}
	return dir
}

func planOf(t *testing.T, dir string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"plan", "-f", dir}, strings.NewReader(""), &stdout, &stderr)
	require.EqualValues(t, 0, code, stderr.String())
	return stdout.String()
}

// TestInvalidInputWritesNothing: exit code 2, every error on stderr, and no
// output file created.
func TestInvalidInputWritesNothing(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(in, []byte("apiVersion: piraeus.io/v1\nkind: LinstorCluster\nmetadata:\n  name: c\nspec:\n  nodeSelectorr: {}\n---\napiVersion: v1\nkind: Node\nmetadata: {}\n"), 0o644))
	out := filepath.Join(dir, "plan.yaml")
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"plan", "-f", in, "--out", out}, strings.NewReader(""), &stdout, &stderr)
	require.Equal(t, exitInvalid, code)
	require.Empty(t, stdout.String())
	require.Contains(t, stderr.String(), in+":6:3: LinstorCluster/c: spec.nodeSelectorr: unknown field")
	require.Contains(t, stderr.String(), in+":10:1: Node/<unnamed>: metadata.name: required")
	require.NoFileExists(t, out)

	exportDir := filepath.Join(dir, "export")
	code = run(t.Context(), []string{"export", "-f", in, "--dir", exportDir}, strings.NewReader(""), &stdout, &stderr)
	require.Equal(t, exitInvalid, code)
	require.NoDirExists(t, exportDir)
}

// TestPlanModesExclude: the plan modes print different things, so asking
// for two of them is an error (exit 2) naming the flags, not a silent pick.
func TestPlanModesExclude(t *testing.T) {
	in := filepath.Join("..", "..", "testdata", "minimal", "input")
	for _, args := range [][]string{
		{"--explain", "--summary"},
		{"--fail-node", "solo", "--diff-against", "plan.yaml"},
		{"--explain", "--out", "plan.yaml"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(t.Context(), append([]string{"plan", "-f", in}, args...), strings.NewReader(""), &stdout, &stderr)
		require.Equal(t, exitInvalid, code, args)
		require.Contains(t, stderr.String(), "none of the others can be", args)
		require.Empty(t, stdout.String(), args)
	}
}
