package agent

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
	"github.com/piraeusctl/piraeusctl/hostexec"
)

// TestDrbdadmAcceptsEveryCommand runs a resource's whole life (create,
// initial sync both ways, adjust, resize, delete) on the DRBD simulator,
// which runs every drbdadm command through the real drbdadm in dry-run
// mode first and fails as drbdadm does: the real tool accepts each option
// and argument the agent uses. The golden is what drbdadm turned each
// command into (drbdsetup/drbdmeta calls): options it silently ignores
// would show there.
func TestDrbdadmAcceptsEveryCommand(t *testing.T) {
	f := upNodeA(t) // create-md, up, new-current-uuid --clear-bitmap
	entries := f.sim.Transcript()
	pools := []*agentv1.StoragePool{thinPool()}

	// Again from scratch everywhere, with a full initial sync.
	for node, x := range map[string]*fixture{"node-a": f, "node-b": f.peers["node-b"], "node-c": f.peers["node-c"]} {
		_, err := x.agent.DeleteResource(t.Context(), &agentv1.DeleteResourceRequest{NodeName: node, Name: "pvc-1", Uid: uid1, StoragePools: pools})
		require.NoError(t, err)
	}
	f.peers["node-b"].apply(desired("node-b", pvc1("node-b")))
	f.peers["node-c"].apply(desired("node-c", pvc1("node-c")))
	f.sim.Reset()
	r := pvc1("node-a")
	r.Drbd.SkipInitialSync = false
	f.apply(desired("node-a", r)) // create-md, up, primary --force, secondary

	// Drift and growth.
	_, err := f.sim.Run(t.Context(), hostexec.Write("drbdsetup", "disconnect", "pvc-1", "1"))
	require.NoError(t, err)
	r.Volumes[0].SizeKib *= 2
	f.apply(desired("node-a", r)) // adjust, resize
	f.rec.Reset()
	_, err = f.agent.DeleteResource(t.Context(), &agentv1.DeleteResourceRequest{NodeName: "node-a", Name: "pvc-1", Uid: uid1, StoragePools: pools})
	require.NoError(t, err)
	entries = append(entries, f.sim.Transcript()...)

	seen := map[string]bool{}
	var transcript strings.Builder
	for _, e := range entries {
		if e.Cmd.Name != "drbdadm" || seen[e.Cmd.String()] {
			continue
		}
		seen[e.Cmd.String()] = true
		assert.EqualValues(t, 0, e.ExitCode, "%s: exit %d", e.Cmd, e.ExitCode)
		assert.NotEqual(t, "", e.DryRun, "%s: drbdadm planned nothing", e.Cmd)
		transcript.WriteString("$ " + strings.ReplaceAll(e.Cmd.String(), f.dir, goldenCD) + "\n" + e.DryRun)
	}
	goldenCmds(t, "drbdadm-dry-run", transcript.String())
	for _, verb := range []string{"create-md", "up", "primary", "secondary", "new-current-uuid", "resize", "adjust", "down", "wipe-md"} {
		found := false
		for line := range seen {
			found = found || containsWord(line, verb)
		}
		assert.True(t, found, "the lifecycle never ran drbdadm %s", verb)
	}
}

func containsWord(line, w string) bool {
	return slices.Contains(strings.Fields(line), w)
}
