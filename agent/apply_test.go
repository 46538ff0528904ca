package agent

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/agent/drbd"
	"github.com/piraeusctl/piraeusctl/agent/drbdsim"
	"github.com/piraeusctl/piraeusctl/agent/internal/drbdcheck"
	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
	"github.com/piraeusctl/piraeusctl/hostexec"
	"github.com/piraeusctl/piraeusctl/internal/golden"
)

const (
	uid1     = "9d2c41d6-0f1e-4f5e-a0d4-1c7c3f0e6a11"
	goldenCD = "/var/lib/piraeusctl/drbd.d"
)

// fixture is an agent on a simulated host (LVM in memory, DRBD simulated
// with its state in simDir) with a recorder in front.
type fixture struct {
	t      *testing.T
	host   *lvmHost
	sim    *drbdsim.Sim
	simDir string
	rec    *hostexec.Recorder
	agent  *Agent
	dir    string
	// peers are the other nodes' fixtures sharing simDir (withPeers).
	peers map[string]*fixture
}

func newFixture(t *testing.T, node string) *fixture {
	t.Helper()
	return newFixtureIn(t, node, t.TempDir())
}

// newFixtureIn is a node of the simulated DRBD cluster whose state is in simDir.
func newFixtureIn(t *testing.T, node, simDir string) *fixture {
	t.Helper()
	h := newLVMHost(t)
	s := newDRBDSim(t, node, simDir, h)
	rec := &hostexec.Recorder{Next: s}
	dir := t.TempDir()
	a, err := New(Config{NodeName: node, ConfigDir: dir, Exec: rec, ProcDRBD: s.ProcDRBD(), Workers: 1, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	return &fixture{t: t, host: h, sim: s, simDir: simDir, rec: rec, agent: a, dir: dir, peers: map[string]*fixture{}}
}

// withPeers converges pvc-1 on node-b (diskful) and node-c (diskless) in
// f's simulated cluster, so that f's node finds its peers connected.
func (f *fixture) withPeers() *fixture {
	f.t.Helper()
	for _, node := range []string{"node-b", "node-c"} {
		p := newFixtureIn(f.t, node, f.simDir)
		p.host.withThinPool()
		p.apply(desired(node, pvc1(node)))
		f.peers[node] = p
	}
	return f
}

// apply runs Apply, fails on a request error and returns the commands run.
func (f *fixture) apply(d *agentv1.NodeDesiredState) (*agentv1.ApplyResult, string) {
	f.t.Helper()
	f.rec.Reset()
	res, err := f.agent.Apply(f.t.Context(), d)
	require.NoError(f.t, err, "Apply")
	return res, f.log()
}

func (f *fixture) log() string {
	return strings.ReplaceAll(f.rec.Log(), f.dir, goldenCD)
}

// thinPool is an LVM_THIN pool built from a raw device when missing.
func thinPool() *agentv1.StoragePool {
	return &agentv1.StoragePool{Name: "thin", ProviderKind: agentv1.ProviderKind_LVM_THIN, VolumeGroup: "vg0",
		ThinPool: "thinpool", HostDevices: []string{"/dev/vdb"}}
}

// pvc1 is a 1 GiB volume replicated on node-a, node-b (diskful) and
// node-c (diskless tie-breaker), as seen from node.
func pvc1(node string) *agentv1.Resource {
	nodes := []struct {
		name, addr string
		id         uint32
		diskless   bool
	}{{"node-a", "10.0.0.1", 0, false}, {"node-b", "10.0.0.2", 1, false}, {"node-c", "10.0.0.3", 2, true}}
	d := &agentv1.DrbdResource{Port: 7000, NetOptions: map[string]string{"verify-alg": "crc32c"},
		Quorum: &agentv1.Quorum{Policy: agentv1.QuorumPolicy_QUORUM_MAJORITY, OnNoQuorum: agentv1.OnNoQuorum_ON_NO_QUORUM_IO_ERROR}}
	vol := &agentv1.Volume{Number: 0, Minor: 1000, SizeKib: 1 << 20, StoragePool: "thin"}
	for _, n := range nodes {
		if n.name == node {
			d.NodeId, d.Address, vol.Diskless = n.id, n.addr, n.diskless
			continue
		}
		d.Peers = append(d.Peers, &agentv1.DrbdPeer{NodeName: n.name, NodeId: n.id, Address: n.addr, Diskless: n.diskless})
	}
	if node == "node-a" {
		d.InitialPrimary, d.SkipInitialSync = true, true
	}
	return &agentv1.Resource{Name: "pvc-1", Uid: uid1, Volumes: []*agentv1.Volume{vol}, Drbd: d}
}

func desired(node string, resources ...*agentv1.Resource) *agentv1.NodeDesiredState {
	return &agentv1.NodeDesiredState{NodeName: node, StoragePools: []*agentv1.StoragePool{thinPool()}, Resources: resources}
}

func TestPoolCreationGolden(t *testing.T) {
	for name, pool := range map[string]*agentv1.StoragePool{
		"pool-lvm":      {Name: "lvm", ProviderKind: agentv1.ProviderKind_LVM, VolumeGroup: "vg1", HostDevices: []string{"/dev/vdb", "/dev/vdc"}},
		"pool-lvm-thin": thinPool(),
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, "node-a")
			d := &agentv1.NodeDesiredState{NodeName: "node-a", StoragePools: []*agentv1.StoragePool{pool}}
			res, log := f.apply(d)
			assert.Equal(t, agentv1.Outcome_CHANGED, res.Pools[0].Outcome, "pool outcome = %v (%s), want CHANGED", res.Pools[0].Outcome, res.Pools[0].Message)
			goldenCmds(t, name, log)
			assertNoop(t, f, d)
		})
	}
}

// assertNoop applies d again and requires zero mutating commands.
func assertNoop(t *testing.T, f *fixture, d *agentv1.NodeDesiredState) {
	t.Helper()
	res, _ := f.apply(d)
	m := f.rec.Mutating()
	assert.False(t, len(m) != 0 || res.MutatingCommandsRun != 0, "second converge ran mutating commands:\n%s", hostexec.FormatLog(m))
	for _, r := range res.Resources {
		assert.Equal(t, agentv1.Outcome_UNCHANGED, r.Outcome, "second converge: %s is %v (%s) %v", r.Name, r.Outcome, r.Message, r.Actions)
	}
}

func TestNewResourceThreeReplicasGolden(t *testing.T) {
	f := newFixture(t, "node-a").withPeers()
	f.host.withThinPool()
	d := desired("node-a", pvc1("node-a"))
	res, log := f.apply(d)
	goldenCmds(t, "new-resource-3-replicas", log)
	want := []string{"create volume 0 in pool thin (1048864 KiB)", "write " + filepath.Join(f.dir, "pvc-1.res"),
		"create-md volume 0", "up", "skip initial sync of volume 0"}
	assert.Equal(t, want, res.Resources[0].Actions, "actions")
	assert.False(t, res.Resources[0].Outcome != agentv1.Outcome_CHANGED || res.MutatingCommandsRun != 4, "result = %v", res)
	golden.AssertFile(t, golden.Path("new-resource-3-replicas.res"), filepath.Join(f.dir, "pvc-1.res"))
	drbdcheck.Drbdadm(t, "node-a", []string{"10.0.0.1"}, "-c", filepath.Join(f.dir, "pvc-1.res"), "dump", "all")
	// A no-op converge: nothing mutating, and the golden is empty.
	assertNoop(t, f, d)
	goldenCmds(t, "noop", hostexec.FormatLog(f.rec.Mutating()))
}

func TestNewResourceWaitsForPeers(t *testing.T) {
	f := newFixture(t, "node-a")
	f.host.withThinPool()
	d := desired("node-a", pvc1("node-a"))
	res, _ := f.apply(d)
	r := res.Resources[0]
	require.False(t, r.Outcome != agentv1.Outcome_PENDING || !strings.Contains(r.Message, "node-b"), "want PENDING waiting for node-b, got %v %q", r.Outcome, r.Message)
	f.withPeers()
	res, log := f.apply(d)
	assert.Contains(t, log, "write: [uts node-a] drbdadm -c "+goldenCD+"/pvc-1.res -- --clear-bitmap new-current-uuid pvc-1/0", "the next converge must skip the initial sync once peers are connected:\n%s", log)
	assert.Equal(t, agentv1.Outcome_CHANGED, res.Resources[0].Outcome, "outcome = %v", res.Resources[0].Outcome)
	assertNoop(t, f, d)
}

func TestNewResourceFullSyncForcesPrimary(t *testing.T) {
	f := newFixture(t, "node-a").withPeers()
	f.host.withThinPool()
	r := pvc1("node-a")
	r.Drbd.SkipInitialSync = false
	res, log := f.apply(desired("node-a", r))
	assert.Contains(t, log, "drbdadm -c "+goldenCD+"/pvc-1.res primary --force pvc-1\nwrite: [uts node-a] drbdadm -c "+goldenCD+"/pvc-1.res secondary pvc-1\n", "want primary --force then secondary:\n%s", log)
	assertNoop(t, f, desired("node-a", r))
	_ = res
}

func TestNewResourceDisklessGolden(t *testing.T) {
	f := newFixture(t, "node-c")
	f.host.withThinPool()
	d := desired("node-c", pvc1("node-c"))
	res, log := f.apply(d)
	goldenCmds(t, "new-resource-diskless", log)
	drbdcheck.Drbdadm(t, "node-c", []string{"10.0.0.3"}, "-c", filepath.Join(f.dir, "pvc-1.res"), "dump", "all")
	assert.False(t, strings.Contains(log, "lvcreate") || strings.Contains(log, "create-md"), "a diskless replica must not create storage or metadata")
	assert.Equal(t, agentv1.Outcome_CHANGED, res.Resources[0].Outcome, "outcome = %v %s", res.Resources[0].Outcome, res.Resources[0].Message)
	assertNoop(t, f, d)
}

// upNodeA returns a fixture where pvc-1 is converged on node-a, and on
// node-b and node-c (its peers).
func upNodeA(t *testing.T) *fixture {
	f := newFixture(t, "node-a").withPeers()
	f.host.withThinPool()
	f.apply(desired("node-a", pvc1("node-a")))
	return f
}

func TestAddReplicaGolden(t *testing.T) {
	f := upNodeA(t)
	r := pvc1("node-a")
	r.Drbd.Peers = append(r.Drbd.Peers, &agentv1.DrbdPeer{NodeName: "node-d", NodeId: 3, Address: "10.0.0.4"})
	_, log := f.apply(desired("node-a", r))
	goldenCmds(t, "add-replica", log)
	drbdcheck.Drbdadm(t, "node-a", []string{"10.0.0.1"}, "-c", filepath.Join(f.dir, "pvc-1.res"), "dump", "all")
	assertNoop(t, f, desired("node-a", r))
}

func TestRemoveReplicaGolden(t *testing.T) {
	// On a remaining replica: the peer disappears from the file; adjust.
	f := upNodeA(t)
	r := pvc1("node-a")
	r.Drbd.Peers = r.Drbd.Peers[:1]
	_, remaining := f.apply(desired("node-a", r))
	assertNoop(t, f, desired("node-a", r))

	// On the removed replica: an explicit delete.
	b := newFixture(t, "node-b")
	b.host.withThinPool()
	b.apply(desired("node-b", pvc1("node-b")))
	b.rec.Reset()
	_, err := b.agent.DeleteResource(t.Context(), &agentv1.DeleteResourceRequest{NodeName: "node-b", Name: "pvc-1", Uid: uid1,
		StoragePools: []*agentv1.StoragePool{thinPool()}})
	require.NoError(t, err)
	goldenCmds(t, "remove-replica", "# node-a (remaining replica): Apply without node-c\n"+remaining+
		"# node-b (removed replica): DeleteResource\n"+b.log())
}

func TestResizeGolden(t *testing.T) {
	f := upNodeA(t)
	r := pvc1("node-a")
	r.Volumes[0].SizeKib = 2 << 20
	res, log := f.apply(desired("node-a", r))
	goldenCmds(t, "resize", log)
	want := []string{"grow volume 0 to 2097664 KiB", "resize volume 0"}
	assert.Equal(t, want, res.Resources[0].Actions, "actions")
	// DRBD grows the device once node-b's backing device has grown too.
	rb := pvc1("node-b")
	rb.Volumes[0].SizeKib = 2 << 20
	f.peers["node-b"].apply(desired("node-b", rb))
	st := f.agent.Status(t.Context())
	assert.Equal(t, "UpToDate", st.Resources[0].Volumes[0].DiskState, "status after resize: %v", st)
	assertNoop(t, f, desired("node-a", r))
}

// TestResizeRefusedDuringResync: real DRBD refuses to resize during a
// resync, and on DRBD 9 a peer's resize starts one for the area it added,
// so a resize can meet one that began after the agent read the state. The
// agent grows the backing volume, reports the resize pending, and resizes
// on a later converge.
func TestResizeRefusedDuringResync(t *testing.T) {
	f := upNodeA(t)
	r := pvc1("node-a")
	r.Volumes[0].SizeKib = 2 << 20
	f.rec.Next = refusesResize{next: f.sim}
	res, log := f.apply(desired("node-a", r))
	got := res.Resources[0]
	assert.Equal(t, agentv1.Outcome_PENDING, got.Outcome, "outcome %s %q; want PENDING naming the resync", got.Outcome, got.Message)
	assert.Contains(t, got.Message, "resync")
	assert.Contains(t, log, "write: lvextend", "want the backing volume grown")
	assert.Contains(t, log, "resize pvc-1/0", "want a resize tried")
	f.rec.Next = f.sim
	res, _ = f.apply(desired("node-a", r))
	assert.Equal(t, []string{"resize volume 0"}, res.Resources[0].Actions, "after the resync")
	rb := pvc1("node-b")
	rb.Volumes[0].SizeKib = 2 << 20
	f.peers["node-b"].apply(desired("node-b", rb))
	assertNoop(t, f, desired("node-a", r))
}

// refusesResize answers `drbdadm resize` as DRBD does during a resync.
type refusesResize struct{ next hostexec.Executor }

func (r refusesResize) Run(ctx context.Context, cmd hostexec.Cmd) (hostexec.Result, error) {
	if cmd.Name != "drbdadm" || !slices.Contains(cmd.Args, "resize") {
		return r.next.Run(ctx, cmd)
	}
	stderr := "1000: Failure: (130) Resize not allowed during resync.\nCommand 'drbdsetup resize 1000' terminated with exit code 10\n"
	return hostexec.Result{Stderr: []byte(stderr), ExitCode: 10}, &hostexec.ExitError{Cmd: cmd, ExitCode: 10, Stderr: stderr}
}

// TestResizeBlockedByResync: the agent does not even try to resize while
// DRBD reports a resync with any peer, in either direction.
func TestResizeBlockedByResync(t *testing.T) {
	a := newFixture(t, "node-a").agent
	for repl, want := range map[string]bool{"Established": false, "SyncSource": true, "SyncTarget": true, "PausedSyncT": true, "Off": false} {
		r := drbd.Resource{Name: "pvc-1", Role: "Secondary", Connections: []drbd.Connection{
			{Name: "node-b", PeerDevices: []drbd.PeerDevice{{Volume: 0, ReplicationState: "Established"}}},
			{Name: "node-c", PeerDevices: []drbd.PeerDevice{{Volume: 0, ReplicationState: repl}}},
		}}
		got := a.resizeBlocked(r)
		assert.Equal(t, want, got != "", "peer %s: resizeBlocked = %q, want blocked %t", repl, got, want)
	}
}

func TestDeleteResourceGolden(t *testing.T) {
	f := upNodeA(t)
	f.rec.Reset()
	res, err := f.agent.DeleteResource(t.Context(), &agentv1.DeleteResourceRequest{NodeName: "node-a", Name: "pvc-1", Uid: uid1,
		StoragePools: []*agentv1.StoragePool{thinPool()}})
	require.NoError(t, err)
	goldenCmds(t, "delete-resource", f.log())
	_, err = os.Stat(filepath.Join(f.dir, "pvc-1.res"))
	assert.True(t, os.IsNotExist(err), "resource file left behind: %v", err)
	assert.False(t, f.host.hasLV("vg0", "pvc-1_00000"), "backing volume left behind")
	st, _ := f.sim.Run(t.Context(), drbd.StatusJSON())
	assert.Equal(t, "[\n]\n", string(st.Stdout), "DRBD resource left behind:\n%s", st.Stdout)
	assert.EqualValues(t, 3, res.MutatingCommandsRun, "mutating = %d, want 3 (down, wipe-md, lvremove)", res.MutatingCommandsRun)
	// Deleting again finds nothing and does nothing.
	f.rec.Reset()
	res, err = f.agent.DeleteResource(t.Context(), &agentv1.DeleteResourceRequest{NodeName: "node-a", Name: "pvc-1", Uid: uid1,
		StoragePools: []*agentv1.StoragePool{thinPool()}})
	assert.False(t, err != nil || len(res.Actions) != 0 || len(f.rec.Mutating()) != 0, "second delete: %v %v", res, err)
}

func TestDeleteRefusesWrongUID(t *testing.T) {
	f := upNodeA(t)
	f.rec.Reset()
	_, err := f.agent.DeleteResource(t.Context(), &agentv1.DeleteResourceRequest{NodeName: "node-a", Name: "pvc-1", Uid: "other-uid",
		StoragePools: []*agentv1.StoragePool{thinPool()}})
	var conflict *ConflictError
	require.True(t, errors.As(err, &conflict), "want ConflictError, got %v", err)
	m := f.rec.Mutating()
	assert.Len(t, m, 0, "a refused delete ran:\n%s", hostexec.FormatLog(m))
	_, err = f.agent.DeleteResource(t.Context(), &agentv1.DeleteResourceRequest{NodeName: "node-b", Name: "pvc-1", Uid: uid1})
	assert.Error(t, err, "delete for another node must be refused")
}

// TestOmittedResourceIsOrphanNotDeleted: a desired state that lost a
// resource (as after a lost controller database) must not destroy it.
func TestOmittedResourceIsOrphanNotDeleted(t *testing.T) {
	f := upNodeA(t)
	res, _ := f.apply(desired("node-a"))
	m := f.rec.Mutating()
	require.Len(t, m, 0, "omitting a resource ran:\n%s", hostexec.FormatLog(m))
	var kinds []string
	for _, o := range res.Orphans {
		kinds = append(kinds, o.Kind.String()+" "+o.Resource+" "+o.Uid)
	}
	want := []string{"BACKING_VOLUME pvc-1 " + uid1, "DRBD_CONFIG pvc-1 " + uid1, "DRBD_RESOURCE pvc-1 " + uid1}
	assert.Equal(t, want, kinds, "orphans")
	st := f.agent.Status(t.Context())
	assert.False(t, len(st.Orphans) != 3 || len(st.Resources) != 1 || !st.Resources[0].DrbdUp, "status = %v", st)
}

// TestResumeAfterCrash: the volume exists but create-md never ran.
func TestResumeAfterCrashGolden(t *testing.T) {
	f := newFixture(t, "node-a").withPeers()
	f.host.withThinPool()
	f.host.vgs["vg0"].lvs["pvc-1_00000"] = &simLV{size: 1076 << 20, attr: "Vwi-aotz--", pool: "thinpool",
		tags: []string{"piraeusctl", "piraeusctl_uid_" + uid1}}
	d := desired("node-a", pvc1("node-a"))
	_, log := f.apply(d)
	goldenCmds(t, "resume-after-crash", log)
	assert.False(t, !strings.Contains(log, "create-md pvc-1/0") || strings.Contains(log, "lvcreate"), "want create-md on the existing volume and no lvcreate:\n%s", log)
	assertNoop(t, f, d)
}

func TestForeignVolumeIsNotAdopted(t *testing.T) {
	f := newFixture(t, "node-a")
	f.host.withThinPool()
	f.host.vgs["vg0"].lvs["pvc-1_00000"] = &simLV{size: 1076 << 20, attr: "Vwi-aotz--", pool: "thinpool",
		tags: []string{"piraeusctl", "piraeusctl_uid_someone-else"}}
	res, _ := f.apply(desired("node-a", pvc1("node-a")))
	r := res.Resources[0]
	require.False(t, r.Outcome != agentv1.Outcome_FAILED || !strings.Contains(r.Message, "someone-else"), "want FAILED naming the other uid, got %v %q", r.Outcome, r.Message)
	m := f.rec.Mutating()
	assert.Len(t, m, 0, "ran:\n%s", hostexec.FormatLog(m))
}

func TestDriftIsAdjusted(t *testing.T) {
	f := upNodeA(t)
	_, err := f.sim.Run(t.Context(), hostexec.Write("drbdsetup", "disconnect", "pvc-1", "1"))
	require.NoError(t, err)
	_, log := f.apply(desired("node-a", pvc1("node-a")))
	assert.Contains(t, log, "write: [uts node-a] drbdadm -c "+goldenCD+"/pvc-1.res adjust pvc-1", "a kernel that drifted from the file must be adjusted:\n%s", log)
}

func TestApplyRejects(t *testing.T) {
	tests := map[string]func(d *agentv1.NodeDesiredState){
		"other node":   func(d *agentv1.NodeDesiredState) { d.NodeName = "node-x" },
		"unknown pool": func(d *agentv1.NodeDesiredState) { d.Resources[0].Volumes[0].StoragePool = "nope" },
		"bad uid":      func(d *agentv1.NodeDesiredState) { d.Resources[0].Uid = "" },
		"bad name":     func(d *agentv1.NodeDesiredState) { d.Resources[0].Name = "a/b" },
		"duplicate":    func(d *agentv1.NodeDesiredState) { d.Resources = append(d.Resources, d.Resources[0]) },
		"no volumes":   func(d *agentv1.NodeDesiredState) { d.Resources[0].Volumes = nil },
		"size zero":    func(d *agentv1.NodeDesiredState) { d.Resources[0].Volumes[0].SizeKib = 0 },
		"drbd without": func(d *agentv1.NodeDesiredState) { d.Resources[0].Drbd = nil },
		"layers": func(d *agentv1.NodeDesiredState) {
			d.Resources[0].Layers = []agentv1.Layer{agentv1.Layer_STORAGE, agentv1.Layer_DRBD}
		},
		"diskless storage": func(d *agentv1.NodeDesiredState) {
			d.Resources[0].Layers = []agentv1.Layer{agentv1.Layer_STORAGE}
			d.Resources[0].Volumes[0].Diskless = true
		},
		"pool twice": func(d *agentv1.NodeDesiredState) { d.StoragePools = append(d.StoragePools, thinPool()) },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, "node-a")
			d := desired("node-a", pvc1("node-a"))
			mutate(d)
			var inv *InvalidError
			_, err := f.agent.Apply(t.Context(), d)
			assert.True(t, errors.As(err, &inv), "want InvalidError, got %v", err)
			n := len(f.rec.Commands())
			assert.EqualValues(t, 0, n, "an invalid request ran %d commands", n)
		})
	}
}

func TestUnsupportedPoolFailsAlone(t *testing.T) {
	f := newFixture(t, "node-a").withPeers()
	f.host.withThinPool()
	d := desired("node-a", pvc1("node-a"))
	d.StoragePools = append(d.StoragePools, &agentv1.StoragePool{Name: "zfs", ProviderKind: agentv1.ProviderKind_ZFS_THIN})
	res, _ := f.apply(d)
	assert.False(t, res.Pools[1].Outcome != agentv1.Outcome_FAILED || !strings.Contains(res.Pools[1].Message, "not supported"), "zfs pool: %v", res.Pools[1])
	assert.Equal(t, agentv1.Outcome_CHANGED, res.Resources[0].Outcome, "the resource on the good pool must still converge: %v", res.Resources[0])
}

// goldenCmds compares a command log with testdata/golden/<name>.cmds.
func goldenCmds(t *testing.T, name, got string) {
	t.Helper()
	golden.Assert(t, golden.Path(name+".cmds"), got)
}
