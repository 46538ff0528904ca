package drbdsim

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/agent/drbd"
	"github.com/piraeusctl/piraeusctl/hostexec"
	"github.com/piraeusctl/piraeusctl/internal/golden"
)

// syncingCluster is the shape of the real captures in agent/drbd/testdata:
// pvc-1 Primary on node-a, node-b resyncing from it, node-c diskless.
func syncingCluster(t *testing.T) *lab {
	l := newLab(t, 10*time.Second, "node-a", "node-b", "node-c")
	threeReplicas(l, true)
	l.up("node-a", "pvc-1", true)
	l.up("node-b", "pvc-1", true)
	l.up("node-c", "pvc-1", false)
	l.run("node-a", l.admin("node-a", "pvc-1").ForcePrimary())
	l.clock.add(2500 * time.Millisecond)
	return l
}

var (
	jsonValue   = regexp.MustCompile(`(": )("[^"]*"|[-0-9.]+|true|false)`)
	events2Item = regexp.MustCompile(`(\S+?):\S+`)
)

// TestStatusJSONLayoutIsDrbdsetups compares the simulator's `drbdsetup
// status --json` with the real capture, values aside: same keys, same
// order, same line layout.
func TestStatusJSONLayoutIsDrbdsetups(t *testing.T) {
	capture, err := os.ReadFile("../drbd/testdata/status-3node.json")
	require.NoError(t, err)
	// The capture's first resource is the syncing pvc-1.
	want, _, _ := bytes.Cut(capture, []byte("\n},\n{\n"))
	l := syncingCluster(t)
	got := l.run("node-a", drbd.StatusJSON())
	got = strings.TrimSuffix(strings.TrimPrefix(got, "[\n"), "\n}\n]\n")
	norm := func(s string) string { return jsonValue.ReplaceAllString(s, "${1}V") }
	assert.Equal(t, norm(string(want)), norm("[\n"+got), "layout differs from the real capture (-capture +simulator):")
	_, err = drbd.ParseStatusJSON([]byte(l.run("node-b", drbd.StatusJSON())))
	assert.NoError(t, err)
}

// TestEvents2LayoutIsDrbdsetups: the same for `drbdsetup events2 --now`,
// and both outputs give the agent the same state.
func TestEvents2LayoutIsDrbdsetups(t *testing.T) {
	capture, err := os.ReadFile("../drbd/testdata/events2-now.txt")
	require.NoError(t, err)
	var want []string
	for _, line := range strings.Split(string(capture), "\n") {
		if strings.Contains(line, "name:pvc-1 ") {
			want = append(want, events2Item.ReplaceAllString(line, "${1}:V"))
		}
	}
	l := syncingCluster(t)
	out := l.run("node-a", drbd.EventsNow())
	var got []string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "name:pvc-1 ") {
			got = append(got, events2Item.ReplaceAllString(line, "${1}:V"))
		}
	}
	assert.Equal(t, want, got, "events2 layout differs from the real capture (-capture +simulator):")
	assert.True(t, strings.HasSuffix(out, "exists -\n"), "events2 --now must end with \"exists -\":\n%s", out)
	fromEvents, err := drbd.ParseEvents2(strings.NewReader(out))
	require.NoError(t, err)
	fromJSON, err := drbd.ParseStatusJSON([]byte(l.run("node-a", drbd.StatusJSON())))
	require.NoError(t, err)
	for i := range fromJSON { // events2 carries no sizes and no node-id
		fromJSON[i].NodeID = fromEvents[i].NodeID
		for j := range fromJSON[i].Devices {
			fromJSON[i].Devices[j].SizeKiB = 0
		}
		for j := range fromJSON[i].Connections {
			for k := range fromJSON[i].Connections[j].PeerDevices {
				fromJSON[i].Connections[j].PeerDevices[k].PercentInSync = fromEvents[i].Connections[j].PeerDevices[k].PercentInSync
			}
		}
	}
	assert.Equal(t, fromJSON, fromEvents, "status --json and events2 --now disagree (-json +events2):")
}

// TestTranscriptGolden: node-a's DRBD commands of a 3-replica bring-up,
// each drbdadm command with the kernel commands it became.
func TestTranscriptGolden(t *testing.T) {
	l := newLab(t, 0, "node-a", "node-b", "node-c")
	threeReplicas(l, true)
	l.up("node-b", "pvc-1", true)
	l.up("node-c", "pvc-1", false)
	l.up("node-a", "pvc-1", true)
	adm := l.admin("node-a", "pvc-1")
	l.run("node-a", adm.ClearBitmapNewUUID(0))
	l.run("node-a", adm.AdjustDryRun())
	l.run("node-a", hostexec.Write("drbdsetup", "disconnect", "pvc-1", "1"))
	l.run("node-a", adm.Adjust())
	l.run("node-a", adm.Down())
	l.run("node-a", adm.WipeMD(0))
	got := strings.ReplaceAll(FormatTranscript(l.nodes["node-a"].Transcript()), l.confs, "/etc/drbd.d")
	golden.Assert(t, golden.Path("three-replicas.txt"), got)
}

// TestProcDRBDSaysDRBD9: the agent's version detection reads the
// simulated /proc/drbd as the one of a DRBD 9.2.18 module.
func TestProcDRBDSaysDRBD9(t *testing.T) {
	l := newLab(t, 0, "node-a")
	data, err := os.ReadFile(l.nodes["node-a"].ProcDRBD())
	require.NoError(t, err)
	v, err := drbd.ParseProcDRBD(data)
	assert.False(t, err != nil || v != (drbd.Version{Major: 9, Minor: 2, Patch: 18}) || v.Is84(), "version %v, %v", v, err)
	out := l.run("node-a", hostexec.Read("drbdadm", "--version"))
	assert.Contains(t, out, "DRBD_KERNEL_VERSION=9.2.18", "drbdadm --version through the simulator:\n%s", out)
}

// TestStatusJSONLayoutIsRealDRBD9 compares the simulator's steady-state
// `status --json` with real DRBD 9.2.18 output recorded by the lab
// (status-drbd9.json, node-a: its pvc-tb is diskful on node-a and node-b,
// a diskless tie-breaker on node-c, in sync), values aside.
func TestStatusJSONLayoutIsRealDRBD9(t *testing.T) {
	capture, err := os.ReadFile("../drbd/testdata/status-drbd9.json")
	require.NoError(t, err)
	_, want, ok := bytes.Cut(capture, []byte("\n,\n{\n"))
	require.True(t, ok, "status-drbd9.json: no second resource")
	l := newLab(t, 0, "node-a", "node-b", "node-c")
	inSyncWithTieBreaker(l)
	got := strings.TrimPrefix(l.run("node-a", drbd.StatusJSON()), "[\n{\n")
	// Real drbdsetup ends with one more empty line; nothing reads it.
	norm := func(s string) string { return jsonValue.ReplaceAllString(strings.TrimRight(s, "\n"), "${1}V") }
	assert.Equal(t, norm(string(want)), norm(got), "layout differs from real DRBD 9 (expected: real, actual: simulator)")
}
