package drbdsim

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/piraeusctl/piraeusctl/agent/drbd"
	"github.com/piraeusctl/piraeusctl/hostexec"
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
	if err != nil {
		t.Fatal(err)
	}
	// The capture's first resource is the syncing pvc-1.
	want, _, _ := bytes.Cut(capture, []byte("\n},\n{\n"))
	l := syncingCluster(t)
	got := l.run("node-a", drbd.StatusJSON())
	got = strings.TrimSuffix(strings.TrimPrefix(got, "[\n"), "\n}\n]\n")
	norm := func(s string) string { return jsonValue.ReplaceAllString(s, "${1}V") }
	if d := cmp.Diff(norm(string(want)), norm("[\n"+got)); d != "" {
		t.Errorf("layout differs from the real capture (-capture +simulator):\n%s", d)
	}
	if _, err := drbd.ParseStatusJSON([]byte(l.run("node-b", drbd.StatusJSON()))); err != nil {
		t.Error(err)
	}
}

// TestEvents2LayoutIsDrbdsetups: the same for `drbdsetup events2 --now`,
// and both outputs give the agent the same state.
func TestEvents2LayoutIsDrbdsetups(t *testing.T) {
	capture, err := os.ReadFile("../drbd/testdata/events2-now.txt")
	if err != nil {
		t.Fatal(err)
	}
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
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("events2 layout differs from the real capture (-capture +simulator):\n%s", d)
	}
	if !strings.HasSuffix(out, "exists -\n") {
		t.Errorf("events2 --now must end with \"exists -\":\n%s", out)
	}
	fromEvents, err := drbd.ParseEvents2(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	fromJSON, err := drbd.ParseStatusJSON([]byte(l.run("node-a", drbd.StatusJSON())))
	if err != nil {
		t.Fatal(err)
	}
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
	if d := cmp.Diff(fromJSON, fromEvents); d != "" {
		t.Errorf("status --json and events2 --now disagree (-json +events2):\n%s", d)
	}
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
	golden(t, "three-replicas.transcript", got)
}

// TestProcDRBDSaysDRBD9: the agent's version detection reads the
// simulated /proc/drbd as the one of a DRBD 9.2.18 module.
func TestProcDRBDSaysDRBD9(t *testing.T) {
	l := newLab(t, 0, "node-a")
	data, err := os.ReadFile(l.nodes["node-a"].ProcDRBD())
	if err != nil {
		t.Fatal(err)
	}
	v, err := drbd.ParseProcDRBD(data)
	if err != nil || v != (drbd.Version{Major: 9, Minor: 2, Patch: 18}) || v.Is84() {
		t.Errorf("version %v, %v", v, err)
	}
	out := l.run("node-a", hostexec.Read("drbdadm", "--version"))
	if !strings.Contains(out, "DRBD_KERNEL_VERSION=9.2.18") {
		t.Errorf("drbdadm --version through the simulator:\n%s", out)
	}
}

// TestStatusJSONLayoutIsRealDRBD9 compares the simulator's steady-state
// `status --json` with real DRBD 9.2.18 output recorded by the lab
// (status-drbd9.json, node-a: its pvc-tb is diskful on node-a and node-b,
// a diskless tie-breaker on node-c, in sync), values aside.
func TestStatusJSONLayoutIsRealDRBD9(t *testing.T) {
	capture, err := os.ReadFile("../drbd/testdata/status-drbd9.json")
	if err != nil {
		t.Fatal(err)
	}
	_, want, ok := bytes.Cut(capture, []byte("\n,\n{\n"))
	if !ok {
		t.Fatal("status-drbd9.json: no second resource")
	}
	l := newLab(t, 0, "node-a", "node-b", "node-c")
	inSyncWithTieBreaker(l)
	got := strings.TrimPrefix(l.run("node-a", drbd.StatusJSON()), "[\n{\n")
	// Real drbdsetup ends with one more empty line; nothing reads it.
	norm := func(s string) string { return jsonValue.ReplaceAllString(strings.TrimRight(s, "\n"), "${1}V") }
	if d := cmp.Diff(norm(string(want)), norm(got)); d != "" {
		t.Errorf("layout differs from real DRBD 9 (-real +simulator):\n%s", d)
	}
}
