package agent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
	"github.com/piraeusctl/piraeusctl/hostexec"
)

// on84 makes the fixture's agent see a DRBD 8.4.11 kernel module.
func on84(t *testing.T, f *fixture) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "drbd")
	if err := os.WriteFile(path, []byte("version: 8.4.11 (api:1/proto:86-101)\nsrcversion: B536C32A3EADA868561EFD9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
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
	if r.GetOutcome() != agentv1.Outcome_FAILED {
		t.Fatalf("outcome %s (%s), want FAILED", r.GetOutcome(), r.GetMessage())
	}
	for _, want := range []string{"DRBD is 8.4.11", "3 replicas"} {
		if !strings.Contains(r.GetMessage(), want) {
			t.Errorf("message %q does not name %q", r.GetMessage(), want)
		}
	}
	if m := f.rec.Mutating(); len(m) != 0 {
		t.Errorf("a refused resource ran mutating commands:\n%s", hostexec.FormatLog(m))
	}
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
	if err := f.agent.kernelSupports(r); err != nil {
		t.Fatalf("two diskful replicas on 8.4: %v", err)
	}
	r.Drbd.Quorum = &agentv1.Quorum{Policy: agentv1.QuorumPolicy_QUORUM_ALL}
	if err := f.agent.kernelSupports(r); err == nil || !strings.Contains(err.Error(), "quorum all") {
		t.Fatalf("quorum all on 8.4: got %v", err)
	}
	f.agent.cfg.ProcDRBD = filepath.Join(t.TempDir(), "missing")
	if err := f.agent.kernelSupports(pvc1("node-a")); err != nil {
		t.Fatalf("without /proc/drbd the agent assumes DRBD 9, which supports pvc-1: %v", err)
	}
}
