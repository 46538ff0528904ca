package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/piraeusctl/piraeusctl/plan/plantest"
)

// BenchmarkPlanCommand measures the whole `piraeusctl plan` on generated
// clusters: read files, load, validate, place, render and print YAML.
func BenchmarkPlanCommand(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		dir := b.TempDir()
		for _, src := range plantest.Cluster(plantest.ClusterOptions{Nodes: n, Claims: n}) {
			path := filepath.Join(dir, filepath.Base(src.Name))
			if err := os.WriteFile(path, src.Data, 0o644); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(fmt.Sprintf("%d-nodes", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if code := run(b.Context(), []string{"plan", "-f", dir}, strings.NewReader(""), io.Discard, io.Discard); code != 0 {
					b.Fatalf("exit code %d", code)
				}
			}
		})
	}
}
