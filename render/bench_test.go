package render

import (
	"fmt"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/planfile"
)

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRender renders generated clusters (one LVM-thin and one file-thin
// pool per node) and writes them as YAML: the render share of `piraeusctl plan`.
func BenchmarkRender(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		m := newModel(modelOpts{nodes: n})
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			start := cpuTime()
			for b.Loop() {
				p, err := Render(b.Context(), m, testOptions())
				require.NoError(b, err)
				require.NoError(b, planfile.WriteYAML(io.Discard, p.Objects))
			}
			// CPU time (all cores) tells more than wall time on a shared machine.
			b.ReportMetric(float64(cpuTime()-start)/float64(b.N)/1e6, "cpu-ms/op")
		})
	}
}
