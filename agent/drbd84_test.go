package agent

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
	"github.com/piraeusctl/piraeusctl/hostexec"
)

// on84 makes the fixture's agent see a DRBD 8.4.11 kernel module.
func on84(t *testing.T, f *fixture) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "drbd")
	require.NoError(t, os.WriteFile(path, []byte("version: 8.4.11 (api:1/proto:86-101)\nsrcversion: B536C32A3EADA868561EFD9\n"), 0o644))
	f.agent.cfg.ProcDRBD = path
	f.rec.Next = events2Empty{next: f.rec.Next}
}

// events2Empty answers DRBD 8.4's state read (no resources) in front of
// the simulated host, which speaks DRBD 9.
type events2Empty struct{ next hostexec.Executor }

func (e events2Empty) Run(ctx context.Context, cmd hostexec.Cmd) (hostexec.Result, error) {
	if cmd.Line() == "drbdsetup events2 --now" {
		return hostexec.Result{Stdout: []byte("exists -\n")}, nil
	}
	return e.next.Run(ctx, cmd)
}

// TestDRBD84RefusesBeforeCreatingAnything: on a DRBD 8.4 kernel a resource
// with three replicas (one a diskless tie-breaker) and quorum fails with an
// error naming the kernel's version and the feature, and nothing is created.
func TestDRBD84RefusesBeforeCreatingAnything(t *testing.T) {
	f := newFixture(t, "node-a")
	f.host.withThinPool()
	on84(t, f)
	res, _ := f.apply(desired("node-a", pvc1("node-a")))
	r := res.GetResources()[0]
	require.Equal(t, agentv1.Outcome_FAILED, r.GetOutcome(), "outcome %s (%s), want FAILED", r.GetOutcome(), r.GetMessage())
	for _, want := range []string{"DRBD is 8.4.11", "3 replicas"} {
		assert.Contains(t, r.GetMessage(), want, "message %q does not name %q", r.GetMessage(), want)
	}
	m := f.rec.Mutating()
	assert.Len(t, m, 0, "a refused resource ran mutating commands:\n%s", hostexec.FormatLog(m))
}

// TestDRBD84AcceptsTwoReplicasWithout9Features: the same agent with a
// two-replica resource without quorum gets past the check (the file it
// writes is checked by drbdadm-84 in the drbd package, and run for real in
// internal/lab).
func TestDRBD84AcceptsTwoReplicasWithout9Features(t *testing.T) {
	f := newFixture(t, "node-a")
	on84(t, f)
	r := pvc1("node-a")
	r.Drbd.Peers = r.Drbd.Peers[:1]
	r.Drbd.Quorum = nil
	require.NoError(t, f.agent.kernelSupports(r), "two diskful replicas on 8.4")
	r.Drbd.Quorum = &agentv1.Quorum{Policy: agentv1.QuorumPolicy_QUORUM_ALL}
	err := f.agent.kernelSupports(r)
	require.ErrorContains(t, err, "quorum all", "quorum all on 8.4: got")
	f.agent.cfg.ProcDRBD = filepath.Join(t.TempDir(), "missing")
	require.NoError(t, f.agent.kernelSupports(pvc1("node-a")), "without /proc/drbd the agent assumes DRBD 9, which supports pvc-1")
}
