package drbdsim

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/agent/drbd"
	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
	"github.com/piraeusctl/piraeusctl/hostexec"
)

const gib = 1 << 30

// threeReplicas: pvc-1 on node-a, node-b (diskful) and node-c.
func threeReplicas(l *lab, cDiskless bool) {
	l.resource("pvc-1", 1000, gib, true, member{"node-a", 0, false}, member{"node-b", 1, false}, member{"node-c", 2, cDiskless})
}

// inSyncWithTieBreaker brings pvc-1 up on node-a and node-b (diskful) and
// node-c (diskless), in sync without an initial resync.
func inSyncWithTieBreaker(l *lab) {
	threeReplicas(l, true)
	l.up("node-a", "pvc-1", true)
	l.up("node-b", "pvc-1", true)
	l.up("node-c", "pvc-1", false)
	l.run("node-a", l.admin("node-a", "pvc-1").ClearBitmapNewUUID(0))
}

// TestThreeReplicasSkipInitialSync is the agent's path for a new thin
// volume: create-md and up everywhere, then --clear-bitmap on one node
// makes every connected replica UpToDate at once.
func TestThreeReplicasSkipInitialSync(t *testing.T) {
	l := newLab(t, 0, "node-a", "node-b", "node-c")
	threeReplicas(l, false)
	l.up("node-a", "pvc-1", true)
	got, want := l.summary("node-a"), "pvc-1 Secondary vol0:Inconsistent(no quorum) node-b:Connecting/Off/DUnknown node-c:Connecting/Off/DUnknown\n"
	assert.Equal(t, want, got, "alone:\n got %q\nwant %q", got, want)
	l.up("node-b", "pvc-1", true)
	l.up("node-c", "pvc-1", true)
	want = "pvc-1 Secondary vol0:Inconsistent node-b:Connected/Established/Inconsistent node-c:Connected/Established/Inconsistent\n"
	got = l.summary("node-a")
	assert.Equal(t, want, got, "all up:\n got %q\nwant %q", got, want)
	l.run("node-a", l.admin("node-a", "pvc-1").ClearBitmapNewUUID(0))
	for node, want := range map[string]string{
		"node-a": "pvc-1 Secondary vol0:UpToDate node-b:Connected/Established/UpToDate node-c:Connected/Established/UpToDate\n",
		"node-b": "pvc-1 Secondary vol0:UpToDate node-a:Connected/Established/UpToDate node-c:Connected/Established/UpToDate\n",
		"node-c": "pvc-1 Secondary vol0:UpToDate node-a:Connected/Established/UpToDate node-b:Connected/Established/UpToDate\n",
	} {
		got := l.summary(node)
		assert.Equal(t, want, got, "%s:\n got %q\nwant %q", node, got, want)
	}
	// The device is the backing device minus DRBD's internal metadata.
	d := l.status("node-b")["pvc-1"].Devices[0]
	assert.Equal(t, usableBytes(gib, 7)/1024, d.SizeKiB, "size = %d KiB, want %d", d.SizeKiB, usableBytes(gib, 7)/1024)
}

// TestTieBreakerAndFullSync: two diskful replicas and a diskless
// tie-breaker; primary --force starts the data on node-a, node-b resyncs
// over the configured time while both report the progress.
func TestTieBreakerAndFullSync(t *testing.T) {
	l := newLab(t, 10*time.Second, "node-a", "node-b", "node-c")
	threeReplicas(l, true)
	l.up("node-a", "pvc-1", true)
	l.up("node-b", "pvc-1", true)
	l.up("node-c", "pvc-1", false)
	adm := l.admin("node-a", "pvc-1")
	l.run("node-a", adm.ForcePrimary())
	l.run("node-a", adm.Secondary())
	l.clock.add(4 * time.Second)
	got, want := l.summary("node-b"), "pvc-1 Secondary vol0:Inconsistent node-a:Connected/SyncTarget/UpToDate node-c:Connected/Established/Diskless\n"
	assert.Equal(t, want, got, "syncing:\n got %q\nwant %q", got, want)
	pd := l.status("node-a")["pvc-1"].Connections[0].PeerDevices[0]
	assert.False(t, pd.ReplicationState != "SyncSource" || pd.PercentInSync < 39.9 || pd.PercentInSync > 40.1, "source's view of the sync = %+v, want SyncSource at 40%%", pd)
	d := l.status("node-c")["pvc-1"].Devices[0]
	assert.False(t, d.DiskState != "Diskless" || !d.Client || !d.Quorum || d.SizeKiB == 0, "tie-breaker device = %+v", d)
	l.clock.add(6 * time.Second)
	got, want = l.summary("node-b"), "pvc-1 Secondary vol0:UpToDate node-a:Connected/Established/UpToDate node-c:Connected/Established/Diskless\n"
	assert.Equal(t, want, got, "synced:\n got %q\nwant %q", got, want)
	// Quorum with the tie-breaker: node-a alone with node-c keeps it.
	l.run("node-b", l.admin("node-b", "pvc-1").Down())
	got, want = l.summary("node-a"), "pvc-1 Secondary vol0:UpToDate node-b:Connecting/Off/DUnknown node-c:Connected/Established/Diskless\n"
	assert.Equal(t, want, got, "node-b down:\n got %q\nwant %q", got, want)
	l.run("node-c", l.admin("node-c", "pvc-1").Down())
	got = l.summary("node-a")
	assert.Contains(t, got, "(no quorum)", "node-a alone must lose quorum: %q", got)
}

// TestDrbdadmRejectsAsDrbdadm: a command the real drbdadm refuses fails
// with drbdadm's exit code and message, and the kernel is untouched.
func TestDrbdadmRejectsAsDrbdadm(t *testing.T) {
	l := newLab(t, 0, "node-a")
	threeReplicas(l, false)
	code, stderr := l.fail("node-a", hostexec.Write("drbdadm", "-c", l.conf("node-a", "pvc-1"), "up", "pvc-9").InUTS("node-a"))
	assert.False(t, code != 1 || !strings.Contains(stderr, "'pvc-9' not defined in your config (for this host)."), "exit %d, stderr %q", code, stderr)
	// Another host name: the file has no section for it.
	code, stderr = l.fail("node-a", hostexec.Write("drbdadm", "-c", l.conf("node-a", "pvc-1"), "up", "pvc-1").InUTS("node-x"))
	assert.False(t, code != 1 || !strings.Contains(stderr, "not defined in your config (for this host)"), "wrong host: exit %d, stderr %q", code, stderr)
	code, stderr = l.fail("node-a", hostexec.Write("drbdadm", "-c", l.conf("node-a", "pvc-1"), "resize", "pvc-1/5").InUTS("node-a"))
	assert.False(t, code != 1 || !strings.Contains(stderr, "Resource 'pvc-1' has no volume 5"), "resize of a missing volume: exit %d, stderr %q", code, stderr)
	out := l.run("node-a", drbd.StatusJSON())
	assert.Equal(t, "[\n]\n", out, "kernel touched:\n%s", out)
	// up without metadata: the kernel refuses the disk as DRBD does.
	code, stderr = l.fail("node-a", l.admin("node-a", "pvc-1").Up())
	assert.False(t, code != 1 || !strings.Contains(stderr, "No valid meta data found") ||
		!strings.Contains(stderr, "Command 'drbdmeta 1000 v09 /dev/fake/node-a/pvc-1 internal apply-al' terminated with exit code 1"), "up without metadata: exit %d, stderr %q", code, stderr)
}

// TestKernelRefusals: what DRBD's state engine refuses.
func TestKernelRefusals(t *testing.T) {
	l := newLab(t, 0, "node-a", "node-b")
	l.resource("r", 1000, gib, false, member{"node-a", 0, false}, member{"node-b", 1, false})
	l.up("node-a", "r", true)
	l.up("node-b", "r", true)
	adm := l.admin("node-a", "r")
	code, stderr := l.fail("node-a", hostexec.Write("drbdadm", "-c", adm.ConfFile, "primary", "r").InUTS("node-a"))
	assert.False(t, code != 17 || !strings.Contains(stderr, "r: State change failed: (-2) Need access to UpToDate data"), "primary without data: exit %d, stderr %q", code, stderr)
	l.run("node-a", adm.ForcePrimary())
	code, stderr = l.fail("node-b", hostexec.Write("drbdadm", "-c", l.conf("node-b", "r"), "primary", "r").InUTS("node-b"))
	assert.False(t, code != 11 || !strings.Contains(stderr, "(-1) Multiple primaries not allowed by config"), "second primary: exit %d, stderr %q", code, stderr)
	code, stderr = l.fail("node-a", l.admin("node-a", "r").CreateMD(0, 0))
	assert.False(t, code != 20 || !strings.Contains(stderr, "Device '1000' is configured!"), "create-md on an attached disk: exit %d, stderr %q", code, stderr)
	code, stderr = l.fail("node-a", adm.Up())
	assert.False(t, code != 10 || !strings.Contains(stderr, "Failure: (161) Minor or volume exists already"), "up twice: exit %d, stderr %q", code, stderr)
}

// TestDownKeepsMetadata: down leaves the metadata (and its UpToDate
// data) on the disk; wipe-md removes it; nothing is left after that.
func TestDownKeepsMetadata(t *testing.T) {
	l := newLab(t, 0, "node-a", "node-b")
	l.resource("r", 1000, gib, false, member{"node-a", 0, false}, member{"node-b", 1, false})
	l.up("node-a", "r", true)
	l.up("node-b", "r", true)
	adm := l.admin("node-a", "r")
	l.run("node-a", adm.ClearBitmapNewUUID(0))
	l.run("node-a", adm.Down())
	dstate := drbd.MetadataDiskState(1000, l.disk("node-a", "r"))
	got := l.run("node-a", dstate)
	assert.Equal(t, "Consistent\n", got, "dstate after down = %q", got)
	l.run("node-a", adm.Up())
	got, want := l.summary("node-a"), "r Secondary vol0:UpToDate node-b:Connected/Established/UpToDate\n"
	assert.Equal(t, want, got, "up again:\n got %q\nwant %q", got, want)
	l.run("node-a", adm.Down())
	l.run("node-a", adm.WipeMD(0))
	code, stderr := l.fail("node-a", dstate)
	assert.False(t, code != 1 || stderr != "No valid meta data found\n", "dstate after wipe-md: exit %d %q", code, stderr)
	names, err := l.nodes["node-a"].store.resources("node-a")
	assert.False(t, err != nil || len(names) != 0, "node-a still has state files: %v %v", names, err)
}

// TestReturningPeerResyncs: a node that was away while the other was
// promoted comes back behind and resyncs; diverged data is a split brain.
func TestReturningPeerResyncs(t *testing.T) {
	l := newLab(t, 0, "node-a", "node-b")
	l.resource("r", 1000, gib, false, member{"node-a", 0, false}, member{"node-b", 1, false})
	l.up("node-a", "r", true)
	l.up("node-b", "r", true)
	a, b := l.admin("node-a", "r"), l.admin("node-b", "r")
	l.run("node-a", a.ClearBitmapNewUUID(0))
	l.run("node-b", b.Down())
	l.run("node-a", a.ForcePrimary()) // new generation while node-b is away
	l.run("node-b", b.Up())
	got, want := l.summary("node-b"), "r Secondary vol0:UpToDate node-a:Connected/Established/UpToDate\n"
	assert.Equal(t, want, got, "after return:\n got %q\nwant %q", got, want)
	gi := l.run("node-b", hostexec.Read("drbdmeta", "1000", "v09", l.disk("node-b", "r"), "internal", "get-gi", "--node-id", "1"))
	assert.True(t, strings.HasPrefix(gi, firstField(l.run("node-a", hostexec.Read("drbdmeta", "1000", "v09", l.disk("node-a", "r"), "internal", "get-gi", "--node-id", "0")))), "node-b did not take node-a's generation: %s", gi)
	// Both sides start new data while disconnected: split brain.
	l.run("node-a", a.Secondary())
	l.run("node-a", hostexec.Write("drbdsetup", "disconnect", "r", "1"))
	l.run("node-b", hostexec.Write("drbdsetup", "disconnect", "r", "0"))
	l.run("node-a", hostexec.Write("drbdsetup", "new-current-uuid", "1000"))
	l.run("node-b", hostexec.Write("drbdsetup", "new-current-uuid", "1000"))
	l.run("node-a", hostexec.Write("drbdsetup", "connect", "r", "1"))
	l.run("node-b", hostexec.Write("drbdsetup", "connect", "r", "0"))
	got, want = l.summary("node-a"), "r Secondary vol0:UpToDate node-b:StandAlone/Off/DUnknown\n"
	assert.Equal(t, want, got, "split brain:\n got %q\nwant %q", got, want)
	// Resolved by discarding node-b's data.
	l.run("node-a", hostexec.Write("drbdsetup", "connect", "r", "1"))
	l.run("node-b", hostexec.Write("drbdsetup", "connect", "r", "0", "--discard-my-data"))
	got, want = l.summary("node-b"), "r Secondary vol0:UpToDate node-a:Connected/Established/UpToDate\n"
	assert.Equal(t, want, got, "resolved:\n got %q\nwant %q", got, want)
}

func firstField(s string) string { f, _, _ := strings.Cut(s, ":"); return f }

// TestResizeNeedsEveryDisk: the device grows only when every connected
// diskful node's backing device has grown, as DRBD negotiates it.
func TestResizeNeedsEveryDisk(t *testing.T) {
	l := newLab(t, 0, "node-a", "node-b", "node-c")
	inSyncWithTieBreaker(l)
	old, grown := usableBytes(gib, 7)/1024, usableBytes(2*gib, 7)/1024
	l.host.setSize(l.disk("node-a", "pvc-1"), 2*gib)
	l.run("node-a", l.admin("node-a", "pvc-1").Resize(0))
	got := l.status("node-a")["pvc-1"].Devices[0].SizeKiB
	assert.Equal(t, old, got, "after node-a alone grew: %d KiB, want %d", got, old)
	l.host.setSize(l.disk("node-b", "pvc-1"), 2*gib)
	l.run("node-b", l.admin("node-b", "pvc-1").Resize(0))
	for _, node := range []string{"node-a", "node-b", "node-c"} {
		got := l.status(node)["pvc-1"].Devices[0].SizeKiB
		assert.Equal(t, grown, got, "%s: %d KiB, want %d", node, got, grown)
	}
	l.host.setSize(l.disk("node-b", "pvc-1"), gib)
	code, stderr := l.fail("node-b", l.admin("node-b", "pvc-1").Resize(0))
	assert.False(t, code != 10 || !strings.Contains(stderr, "(170) Implicit device shrinking not allowed"), "shrunk backing device: exit %d %q", code, stderr)
}

// TestAdjust: an unchanged kernel needs nothing; drift and a changed file
// are adjusted by exactly the difference.
func TestAdjust(t *testing.T) {
	l := newLab(t, 0, "node-a", "node-b", "node-c")
	threeReplicas(l, false)
	for _, n := range []string{"node-a", "node-b", "node-c"} {
		l.up(n, "pvc-1", true)
	}
	adm := l.admin("node-a", "pvc-1")
	out := l.run("node-a", adm.AdjustDryRun())
	assert.Equal(t, "", out, "adjust --dry-run of an unchanged resource printed:\n%s", out)
	l.run("node-a", hostexec.Write("drbdsetup", "disconnect", "pvc-1", "1"))
	out, want := l.run("node-a", adm.AdjustDryRun()), "drbdsetup connect pvc-1 1\n"
	assert.Equal(t, want, out, "after a disconnect: adjust --dry-run = %q, want %q", out, want)
	l.run("node-a", adm.Adjust())
	out = l.run("node-a", adm.AdjustDryRun())
	assert.Equal(t, "", out, "adjusted, still:\n%s", out)
	// node-c leaves the resource: node-a's file loses it.
	l.resource("pvc-1", 1000, gib, true, member{"node-a", 0, false}, member{"node-b", 1, false})
	want = "drbdsetup disconnect pvc-1 2\ndrbdsetup del-peer pvc-1 2\n"
	out = l.run("node-a", adm.AdjustDryRun())
	assert.Equal(t, want, out, "peer removed: adjust --dry-run =\n%s\nwant\n%s", out, want)
	l.run("node-a", adm.Adjust())
	got, want := l.summary("node-a"), "pvc-1 Secondary vol0:Inconsistent node-b:Connected/Established/Inconsistent\n"
	assert.Equal(t, want, got, "after adjust:\n got %q\nwant %q", got, want)
	tr := l.nodes["node-a"].Transcript()
	last := tr[len(tr)-1]
	for _, e := range tr {
		if e.Cmd.String() == adm.Adjust().String() {
			last = e
		}
	}
	got = FormatTranscript([]Entry{last})
	assert.Contains(t, got, "drbdsetup del-peer pvc-1 2", "transcript of the adjust:\n%s", got)
}

// counting counts the commands it runs.
type counting struct {
	next hostexec.Executor
	n    int
}

func (c *counting) Run(ctx context.Context, cmd hostexec.Cmd) (hostexec.Result, error) {
	c.n++
	return c.next.Run(ctx, cmd)
}

// TestIdenticalInvocationsReplayOnce: a steady state asks drbdadm once per
// distinct invocation; a changed file is asked again.
func TestIdenticalInvocationsReplayOnce(t *testing.T) {
	l := newLab(t, 0, "node-a")
	l.resource("r", 1000, gib, false, member{"node-a", 0, false}, member{"node-b", 1, false})
	drbdadm := &counting{next: l.nodes["node-a"].cfg.Drbdadm}
	l.nodes["node-a"].cfg.Drbdadm = drbdadm
	l.up("node-a", "r", true)
	adm := l.admin("node-a", "r")
	for range 5 {
		l.run("node-a", adm.AdjustDryRun())
	}
	assert.EqualValues(t, 3, drbdadm.n, "create-md, up and 5 identical adjust --dry-run ran drbdadm %d times, want 3", drbdadm.n)
	l.resource("r", 1000, gib, false, member{"node-a", 0, false}, member{"node-b", 1, false}, member{"node-c", 2, true})
	out := l.run("node-a", adm.AdjustDryRun())
	assert.False(t, !strings.Contains(out, "new-peer r 2 --_name=node-c") || drbdadm.n != 4, "after a change (%d runs):\n%s", drbdadm.n, out)
}

// TestTwoVolumes: a resource of two volumes, its metadata created for
// both at once (drbdadm create-md RES), comes up with both devices.
func TestTwoVolumes(t *testing.T) {
	l := newLab(t, 0, "node-a", "node-b")
	for _, n := range []struct {
		node string
		id   uint32
		peer string
	}{{"node-a", 0, "node-b"}, {"node-b", 1, "node-a"}} {
		d := &agentv1.DrbdResource{Port: 7005, NodeId: n.id, Address: addr(n.id),
			Peers: []*agentv1.DrbdPeer{{NodeName: n.peer, NodeId: 1 - n.id, Address: addr(1 - n.id)}}}
		vols := []drbd.Volume{{Number: 0, Minor: 1010, Disk: l.disk(n.node, "two-0")}, {Number: 1, Minor: 1011, Disk: l.disk(n.node, "two-1")}}
		for _, v := range vols {
			l.host.setSize(v.Disk, 256<<20)
		}
		data, err := drbd.Render(&drbd.ResFile{Node: n.node, UID: "u", Name: "two", DRBD: d, Volumes: vols})
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(filepath.Dir(l.conf(n.node, "two")), 0o755))
		require.NoError(t, os.WriteFile(l.conf(n.node, "two"), data, 0o644))
		l.run(n.node, hostexec.Write("drbdadm", "-c", l.conf(n.node, "two"), "--", "--force", "create-md", "two").InUTS(n.node))
		l.run(n.node, l.admin(n.node, "two").Up())
	}
	l.run("node-a", l.admin("node-a", "two").ClearBitmapNewUUID(0))
	l.run("node-a", l.admin("node-a", "two").ClearBitmapNewUUID(1))
	got, want := l.summary("node-b"), "two Secondary vol0:UpToDate vol1:UpToDate node-a:Connected/Established/UpToDate/Established/UpToDate\n"
	assert.Equal(t, want, got, "got %q\nwant %q", got, want)
}
