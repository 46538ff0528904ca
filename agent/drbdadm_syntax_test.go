package agent

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/agent/internal/drbdcheck"
	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
	"github.com/piraeusctl/piraeusctl/hostexec"
)

// TestDrbdadmAcceptsEveryCommand replays every drbdadm command line of a
// resource's whole life (create, initial sync, adjust, resize, delete)
// through the real drbdadm in dry-run mode, against the file the agent
// wrote: the real tool must accept each option and argument.
func TestDrbdadmAcceptsEveryCommand(t *testing.T) {
	f := upNodeA(t)
	all := f.rec.Commands()
	r := pvc1("node-a")
	r.Drbd.SkipInitialSync = false
	f.sim.kernel = map[string]*simRes{}
	f.sim.md = map[string]string{}
	f.sim.peerDisk = "Inconsistent"
	f.apply(desired("node-a", r)) // create-md, up, primary --force, secondary
	all = append(all, f.rec.Commands()...)
	r.Volumes[0].SizeKib *= 2
	f.sim.drift = true
	f.apply(desired("node-a", r)) // resize, adjust
	all = append(all, f.rec.Commands()...)
	res := filepath.Join(f.dir, "pvc-1.res")
	saved, err := os.ReadFile(res)
	require.NoError(t, err)
	f.rec.Reset()
	_, err = f.agent.DeleteResource(t.Context(), &agentv1.DeleteResourceRequest{NodeName: "node-a", Name: "pvc-1", Uid: uid1,
		StoragePools: []*agentv1.StoragePool{thinPool()}})
	require.NoError(t, err)
	all = append(all, f.rec.Commands()...)
	require.NoError(t, os.WriteFile(res, saved, 0o644))

	seen := map[string]bool{}
	var transcript strings.Builder
	for _, c := range all {
		if c.Name != "drbdadm" || seen[c.String()] {
			continue
		}
		seen[c.String()] = true
		args := slices.Clone(c.Args)
		if !slices.Contains(args, "--dry-run") {
			args = slices.Insert(args, 2, "--dry-run")
		}
		out := drbdcheck.Drbdadm(t, c.Hostname, []string{"10.0.0.1"}, args...)
		assert.NotEqual(t, "", out, "%s: drbdadm planned nothing", hostexec.Cmd{Name: "drbdadm", Args: args})
		transcript.WriteString("$ " + strings.ReplaceAll(c.String(), f.dir, goldenCD) + "\n" + out)
	}
	// What drbdadm turns each command into (drbdsetup/drbdmeta calls):
	// options it silently ignores would show here.
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
