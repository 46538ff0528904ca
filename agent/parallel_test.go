package agent

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
)

// burst is n new resources for node-a, each with its own port and minor.
func burst(n int) *agentv1.NodeDesiredState {
	d := desired("node-a")
	for i := range n {
		r := pvc1("node-a")
		r.Name = fmt.Sprintf("pvc-%03d", i)
		r.Drbd.Port = uint32(7000 + i)
		r.Volumes[0].Minor = uint32(1000 + i)
		d.Resources = append(d.Resources, r)
	}
	return d
}

// TestParallelConvergeMatchesSequential: resources converged several at
// once run the same commands with the same results as one at a time (only
// the interleaving differs), and a second Apply changes nothing.
func TestParallelConvergeMatchesSequential(t *testing.T) {
	run := func(workers int) ([]string, []string) {
		f := newFixture(t, "node-a")
		f.host.withThinPool()
		f.agent.cfg.Workers = workers
		res, log := f.apply(burst(20))
		var results []string
		for _, r := range res.GetResources() {
			results = append(results, fmt.Sprintf("%s %s %s %s", r.GetName(), r.GetOutcome(), r.GetMessage(),
				strings.ReplaceAll(strings.Join(r.GetActions(), ","), f.dir, goldenCD)))
		}
		again, _ := f.apply(burst(20))
		require.Zero(t, again.GetMutatingCommandsRun(), "workers=%d: a second Apply must change nothing", workers)
		cmds := strings.Split(strings.TrimSpace(log), "\n")
		slices.Sort(cmds)
		return results, cmds
	}
	seqResults, seqCmds := run(1)
	parResults, parCmds := run(8)
	require.Equal(t, seqResults, parResults, "results, in the desired state's order")
	require.Equal(t, seqCmds, parCmds, "the same commands")
}
