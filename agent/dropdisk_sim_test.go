package agent

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
	"github.com/piraeusctl/piraeusctl/hostexec"
	"github.com/piraeusctl/piraeusctl/internal/testpki"
)

// TestSimulatedDRBDDropDisk is the agents' side of an evacuation step
// DropDisk: the replica on a leaving node is in use there (Primary) when
// the controller tells every agent that it is diskless from now on (a
// peer told first waits: DRBD keeps the bitmap towards a peer that still
// has its disk). The node detaches its disk (drbdadm adjust) and stays Primary, reading and
// writing over the network from the UpToDate peers; its backing file stays
// (reported as an orphan, nothing is deleted by Apply) until the replica
// leaves the spec and the controller deletes the resource there by uid.
func TestSimulatedDRBDDropDisk(t *testing.T) {
	requireRootTools(t)
	ca := testpki.NewCA(t, "cluster-ca")
	simDir := t.TempDir()
	c := &simCluster{r3Size: 16 << 10}
	for _, name := range []string{"node-a", "node-b", "node-c"} {
		c.nodes = append(c.nodes, startSimNode(t, ca, simDir, name))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	c.converge(t, ctx)
	checkReplicated(t, ctx, c.nodes, "pvc-r3")

	leaving := c.nodes[2]
	_, err := leaving.sim.Run(ctx, hostexec.Write("drbdadm", "-c", leaving.agent.resPath("pvc-r3"), "primary", "pvc-r3").InUTS(leaving.name))
	require.NoError(t, err, "a Pod uses pvc-r3 on %s", leaving.name)

	c.r3DisklessC = true
	first, err := c.nodes[0].client.Apply(ctx, c.desired(c.nodes[0]))
	require.NoError(t, err)
	assert.Equal(t, agentv1.Outcome_PENDING, first.Resources[0].Outcome, "a peer told first waits for node-c to detach: %s", first.Resources[0].Message)
	c.converge(t, ctx)
	k := leaving.kernel(t)["pvc-r3"]
	assert.Equal(t, "Primary", k.Role, "the volume stays in use on %s", leaving.name)
	require.Len(t, k.Devices, 1)
	assert.Equal(t, "Diskless", k.Devices[0].DiskState, "the disk on %s is detached", leaving.name)
	for _, n := range c.nodes[:2] {
		assert.Equal(t, "UpToDate", n.kernel(t)["pvc-r3"].Devices[0].DiskState, "%s", n.name)
	}
	res, err := leaving.client.Apply(ctx, c.desired(leaving))
	require.NoError(t, err)
	require.Len(t, res.Orphans, 1, "the detached backing file is kept, reported")
	assert.Equal(t, agentv1.Orphan_BACKING_VOLUME, res.Orphans[0].Kind)
	assert.Equal(t, "uid-pvc-r3", res.Orphans[0].Uid)

	// Detached there (the Pod moved): the replica leaves the spec and the
	// controller deletes it on the node, backing file included.
	_, err = leaving.sim.Run(ctx, hostexec.Write("drbdadm", "-c", leaving.agent.resPath("pvc-r3"), "secondary", "pvc-r3").InUTS(leaving.name))
	require.NoError(t, err)
	del, err := leaving.client.DeleteResource(ctx, &agentv1.DeleteResourceRequest{NodeName: leaving.name, Name: "pvc-r3", Uid: "uid-pvc-r3",
		StoragePools: []*agentv1.StoragePool{leaving.pool}})
	require.NoError(t, err, "the resource file names no disk: the metadata is wiped on the device")
	assert.Equal(t, []string{"down", "wipe-md volume 0 (detached)", "delete volume 0 in pool files"}, del.Actions[:3])
	entries, _ := os.ReadDir(leaving.pool.Directory)
	assert.Empty(t, entries, "the backing file on %s is removed with the replica", leaving.name)
	for _, n := range c.nodes {
		_, err := n.client.DeleteResource(ctx, &agentv1.DeleteResourceRequest{NodeName: n.name, Name: "pvc-r3", Uid: "uid-pvc-r3",
			StoragePools: []*agentv1.StoragePool{n.pool}})
		assert.NoError(t, err, "%s", n.name)
	}
}
