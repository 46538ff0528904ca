package lab_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
	"github.com/piraeusctl/piraeusctl/internal/lab"
)

// TestLabDRBD9DropDisk is an evacuation's DropDisk step on real DRBD 9:
// a 3-replica volume is Primary on node-c (a Pod uses it there) when the
// agents are told that node-c's replica is diskless from now on (a peer
// told before node-c waits for node-c to detach first). node-c
// detaches its disk (drbdadm adjust) and stays Primary, reading what it
// wrote from node-a and node-b over the network; its backing LV stays
// (an orphan) until the replica is deleted there, which wipes the DRBD
// metadata on the LV the resource file no longer names, and removes it.
func TestLabDRBD9DropDisk(t *testing.T) {
	t.Parallel()
	start := time.Now()
	c := bootWithAgents(t, lab.Options{VMs: 3})
	s := &replicaSet{c: c, vms: c.VMs}
	a, cNode := c.VMs[0], c.VMs[2]
	s.resources = []drbdRes{{name: "pvc-dd", minor: 1000, port: 7000, mib: 32, net: slowNet,
		quorum: majority(agentv1.OnNoQuorum_ON_NO_QUORUM_IO_ERROR)}}
	r := &s.resources[0]
	timed(t, "converge a 3-replica resource", func() { s.converge(t) })
	timed(t, "3 replicas in sync", func() { s.waitInSync(t, r.name, time.Minute) })
	drbdadm(t, cNode, "primary", r.name)
	sum := writePattern(t, cNode, drbdDev(r.minor), 8)

	r.tieBreaker = cNode.Name // diskless there from now on
	// A peer told first: DRBD keeps its bitmap towards node-c while node-c
	// has its disk, so its adjust waits (pending, not failed).
	first := apply(t, c, a, s.desired(a)).GetResources()
	require.Len(t, first, 1)
	assert.Equal(t, agentv1.Outcome_PENDING, first[0].GetOutcome(), "%s: %s", first[0].GetOutcome(), first[0].GetMessage())
	assert.Contains(t, first[0].GetMessage(), "a peer going diskless still has its disk")
	timed(t, "converge node-c diskless", func() { s.converge(t) })
	timed(t, "node-c diskless, the others UpToDate", func() { s.waitInSync(t, r.name, time.Minute) })
	_, kernel := statusJSON(t, cNode)
	k := kernel[r.name]
	d, ok := k.Device(0)
	assert.Equal(t, "Primary", k.Role, "the volume stays in use on node-c")
	assert.False(t, !ok || d.DiskState != "Diskless", "node-c's volume 0 is %+v, want Diskless", d)
	assert.Equal(t, sum, checksum(t, cNode, drbdDev(r.minor), 8), "node-c reads its data over the network")
	_, kept := lvs(t, cNode, vgName)[r.name+"_00000"]
	assert.True(t, kept, "the detached LV is kept until the replica is deleted")

	drbdadm(t, cNode, "secondary", r.name)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	del, err := c.Agent(cNode).DeleteResource(ctx, &agentv1.DeleteResourceRequest{NodeName: cNode.Name, Name: r.name, Uid: "uid-" + r.name,
		StoragePools: labPools(cNode.Disk)[:1]})
	require.NoError(t, err, "delete the diskless replica whose LV is still there")
	t.Logf("delete on node-c: %v", del.GetActions())
	assert.Contains(t, del.GetActions(), "wipe-md volume 0 (detached)")
	_, kept = lvs(t, cNode, vgName)[r.name+"_00000"]
	assert.False(t, kept, "the LV is deleted with the replica")
	handOver(t, nil, a, r, 8, sum)
	drbdadm(t, a, "secondary", r.name)
	t.Logf("timing: DRBD 9 DropDisk with boot: %s", time.Since(start).Round(100*time.Millisecond))
}
