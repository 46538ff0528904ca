package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/plan/plantest"
)

// BenchmarkPlanCommand measures the whole `piraeusctl plan` on generated
// clusters: read files, load, validate, place, render and print YAML.
func BenchmarkPlanCommand(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		dir := b.TempDir()
		for _, src := range plantest.Cluster(plantest.ClusterOptions{Nodes: n, Claims: n}) {
			path := filepath.Join(dir, filepath.Base(src.Name))
			require.NoError(b, os.WriteFile(path, src.Data, 0o644))
		}
		b.Run(fmt.Sprintf("%d-nodes", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				code := run(b.Context(), []string{"plan", "-f", dir}, strings.NewReader(""), io.Discard, io.Discard)
				require.EqualValues(b, 0, code, "exit code %d", code)
			}
		})
	}
}
