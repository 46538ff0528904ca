package lab_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/agent/drbd"
	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
	"github.com/piraeusctl/piraeusctl/internal/lab"
)

// TestLabDRBD84 runs two VMs with the kernel's in-tree DRBD 8.4, the other
// DRBD the agent supports: first the pools scenario on node-a (it needs no
// DRBD, and sharing the VMs keeps the lab at two VM groups), then
// replication both ways and the refusal of what 8.4 cannot do.
func TestLabDRBD84(t *testing.T) {
	t.Parallel()
	start := time.Now()
	c := bootWithAgents(t, lab.Options{VMs: 2, DRBD: lab.DRBD84})
	s := &replicaSet{c: c, vms: c.VMs, drbd84: true, resources: []drbdRes{{name: "pvc-r1", minor: 1000, port: 7000, mib: 64}}}
	runScenarios(t, []scenario{
		{"pools", func(t *testing.T) { scenarioPools(t, c, c.VMs[0]) }},
		{"drbd84-replication", func(t *testing.T) { scenarioReplication84(t, s) }},
		{"drbd84-refusal", func(t *testing.T) { scenarioRefusal84(t, s) }},
	})
	t.Logf("timing: DRBD 8.4 VMs, all scenarios with boot: %s", time.Since(start).Round(100*time.Millisecond))
}

// scenarioReplication84: both agents converge one 2-replica resource on
// thin LVs, written in 8.4 syntax, without an initial sync; A writes, B
// reads the same checksum, then the reverse.
func scenarioReplication84(t *testing.T, s *replicaSet) {
	a, b, r := s.vms[0], s.vms[1], &s.resources[0]
	timed(t, "converge new 2-replica resource", func() { s.converge(t) })
	v, err := drbd.ParseKernelVersionCode([]byte(sh(t, a, "drbdadm --version 2>/dev/null; true")))
	require.False(t, err != nil || !v.Is84(), "guest DRBD version %v (%v): this VM was booted with the in-tree 8.4", v, err)
	res := sh(t, a, "cat "+drbdConfigDir+"/"+r.name+".res")
	assert.Contains(t, res, "for DRBD 8.4", "node-a's resource file is not DRBD 8.4 syntax")
	assert.NotContains(t, res, "node-id", "node-a's resource file is not DRBD 8.4 syntax")
	s.waitInSync(t, r.name, time.Minute)
	st := nodeStatus(t, s.c, a)
	assert.False(t, findResource(st, r.name).GetPeers()[0].GetNodeName() != b.Name, "node-a reports its peer as %q", findResource(st, r.name).GetPeers()[0].GetNodeName())
	drbdadm(t, a, "primary", r.name)
	sumA := writePattern(t, a, drbdDev(r.minor), 8)
	pn := findResource(nodeStatus(t, s.c, b), r.name).GetPrimaryNode()
	assert.Equal(t, a.Name, pn, "node-b reports primary %q, want %s", pn, a.Name)
	handOver(t, a, b, r, 8, sumA)
	sumB := writePattern(t, b, drbdDev(r.minor), 8)
	handOver(t, b, a, r, 8, sumB)
	drbdadm(t, a, "secondary", r.name)
}

// scenarioRefusal84: the guest's DRBD 8.4 cannot run three replicas; the
// agent says so, naming the version and feature, and creates nothing.
func scenarioRefusal84(t *testing.T, s *replicaSet) {
	a, b := s.vms[0], s.vms[1]
	d := s.desired(a)
	three := &agentv1.Resource{Name: "pvc-three", Uid: "uid-three",
		Volumes: []*agentv1.Volume{{Number: 0, Minor: 1009, SizeKib: 16 << 10, StoragePool: poolThin}},
		Drbd: &agentv1.DrbdResource{Port: 7009, NodeId: 0, Address: a.Addr, Peers: []*agentv1.DrbdPeer{
			{NodeName: b.Name, NodeId: 1, Address: b.Addr},
			{NodeName: "node-c", NodeId: 2, Address: "192.168.77.3", Diskless: true},
		}}}
	d.Resources = append(d.Resources, three)
	res, err := s.c.Agent(a).Apply(t.Context(), d)
	require.NoError(t, err)
	for _, r := range res.GetResources() {
		if r.GetName() != three.GetName() {
			assert.Equal(t, agentv1.Outcome_UNCHANGED, r.GetOutcome(), "%s: %s (%s)", r.GetName(), r.GetOutcome(), r.GetMessage())
			continue
		}
		assert.Equal(t, agentv1.Outcome_FAILED, r.GetOutcome(), "3 replicas on DRBD 8.4: %q", r.GetMessage())
		assert.Contains(t, r.GetMessage(), "DRBD is 8.4.11", "3 replicas on DRBD 8.4: want the refusal to name the version")
		assert.Contains(t, r.GetMessage(), "3 replicas", "3 replicas on DRBD 8.4: want the refusal to name the feature")
		t.Logf("refused: %s", r.GetMessage())
	}
	assert.Zero(t, res.GetMutatingCommandsRun(), "the refusal ran %d mutating commands", res.GetMutatingCommandsRun())
	_, ok := lvs(t, a, vgName)["pvc-three_00000"]
	assert.False(t, ok, "a backing volume was created for the refused resource")
}
