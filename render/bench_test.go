package render

import (
	"fmt"
	"io"
	"testing"
)

// BenchmarkRender renders generated clusters (one LVM-thin and one file-thin
// pool per node) and writes them as YAML: the render share of `piraeusctl plan`.
func BenchmarkRender(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		m := newModel(modelOpts{nodes: n})
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p, err := Render(b.Context(), m, testOptions())
				if err != nil {
					b.Fatal(err)
				}
				if err := p.WriteYAML(io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkWriteYAML is the encoder alone on a 1000-node plan.
func BenchmarkWriteYAML(b *testing.B) {
	p, err := Render(b.Context(), newModel(modelOpts{nodes: 1000}), testOptions())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := p.WriteYAML(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
