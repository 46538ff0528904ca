package lab_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/agent/drbd"
	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
)

const drbdConfigDir = "/var/lib/piraeusctl/drbd.d"

// replicated is one 2-replica resource over thin LVs.
type replicated struct {
	name  string
	minor uint32
	port  uint32
	mib   uint64
}

// pair is the two VMs of the replication scenarios and what they are told.
type pair struct {
	c         *labCluster
	a, b      *labVM
	resources []replicated
}

func (p *pair) desired(vm *labVM) *agentv1.NodeDesiredState {
	peer, id, peerID := p.b, uint32(0), uint32(1)
	if vm == p.b {
		peer, id, peerID = p.a, 1, 0
	}
	d := &agentv1.NodeDesiredState{NodeName: vm.Name, StoragePools: labPools(vm.Disk)[:1]}
	for _, r := range p.resources {
		d.Resources = append(d.Resources, &agentv1.Resource{
			Name: r.name, Uid: "uid-" + r.name,
			Volumes: []*agentv1.Volume{{Number: 0, Minor: r.minor, SizeKib: r.mib << 10, StoragePool: poolThin}},
			Drbd: &agentv1.DrbdResource{
				Port: r.port, NodeId: id, Address: vm.Addr,
				Peers:          []*agentv1.DrbdPeer{{NodeName: peer.Name, NodeId: peerID, Address: peer.Addr}},
				InitialPrimary: vm == p.a, SkipInitialSync: true,
			},
		})
	}
	return d
}

// converge applies the desired state to both nodes until nothing is
// pending (the initial sync waits for the peer to connect).
func (p *pair) converge(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		pending := []string{}
		for _, vm := range []*labVM{p.a, p.b} {
			for _, r := range apply(t, p.c, vm, p.desired(vm)).GetResources() {
				if r.GetOutcome() == agentv1.Outcome_PENDING {
					pending = append(pending, vm.Name+"/"+r.GetName()+": "+r.GetMessage())
				}
			}
		}
		if len(pending) == 0 {
			return
		}
		require.False(t, time.Now().After(deadline), "still pending after 3 minutes: %v", pending)
		time.Sleep(2 * time.Second)
	}
}

// waitInSync waits until vm reports name UpToDate and its peer connected
// and UpToDate.
func (p *pair) waitInSync(t *testing.T, vm *labVM, name string, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, fmt.Sprintf("%s: %s UpToDate on both sides", vm.Name, name), func() (bool, string) {
		r := findResource(nodeStatus(t, p.c, vm), name)
		if r == nil || len(r.GetVolumes()) == 0 || len(r.GetPeers()) != 1 || len(r.GetPeers()[0].GetVolumes()) == 0 {
			return false, fmt.Sprint(r)
		}
		peer := r.GetPeers()[0]
		ok := r.GetVolumes()[0].GetDiskState() == "UpToDate" && peer.GetConnectionState() == "Connected" &&
			peer.GetVolumes()[0].GetPeerDiskState() == "UpToDate"
		return ok, fmt.Sprintf("disk %s, peer %s %s %s", r.GetVolumes()[0].GetDiskState(), peer.GetNodeName(),
			peer.GetConnectionState(), peer.GetVolumes()[0].GetPeerDiskState())
	})
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		require.False(t, time.Now().After(deadline), "waited %s for %s; last state: %s", timeout, what, state)
		time.Sleep(time.Second)
	}
}

func drbdadm(t *testing.T, vm *labVM, verb, res string) {
	t.Helper()
	sh(t, vm, fmt.Sprintf("drbdadm -c %s/%s.res %s %s", drbdConfigDir, res, verb, res))
}

func drbdDev(minor uint32) string { return fmt.Sprintf("/dev/drbd%d", minor) }

// TestLabReplication runs scenarios 2-6 on one pair of VMs, in order:
// replication, online resize, deletion safety, restart, failure (the last
// one power-cuts node-a).
func TestLabReplication(t *testing.T) {
	t.Parallel()
	start := time.Now()
	c := bootWithAgents(t, 2)
	p := &pair{c: c, a: c.VMs[0], b: c.VMs[1], resources: []replicated{{name: "pvc-r1", minor: 1000, port: 7000, mib: 64}}}
	r1 := p.resources[0]
	var sum string
	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"replication", func(t *testing.T) { sum = scenarioReplication(t, p, r1) }},
		{"online-resize", func(t *testing.T) { scenarioResize(t, p, r1, sum) }},
		{"deletion-safety", func(t *testing.T) { scenarioDeletionSafety(t, p, r1, sum) }},
		{"drbd84-refusal", func(t *testing.T) { scenarioRefusal84(t, p) }},
		{"restart", func(t *testing.T) { scenarioRestart(t, p, r1, sum) }},
		{"failure", func(t *testing.T) { scenarioFailure(t, p, r1) }},
	}
	for _, s := range steps {
		ok := t.Run(s.name, func(t *testing.T) {
			begin := time.Now()
			s.run(t)
			t.Logf("timing: scenario %s: %s", s.name, time.Since(begin).Round(100*time.Millisecond))
		})
		require.True(t, ok, "scenario %s failed; the later ones build on it", s.name)
	}
	t.Logf("timing: replication scenarios with boot: %s", time.Since(start).Round(100*time.Millisecond))
}

// scenarioReplication: scenario 2. Both agents converge one 2-replica
// resource on thin LVs without an initial sync; A writes, B reads the same
// checksum, then the reverse.
func scenarioReplication(t *testing.T, p *pair, r replicated) string {
	dev := drbdDev(r.minor)
	timed(t, "converge new 2-replica resource", func() { p.converge(t) })
	// The lab's kernel has DRBD 8.4: the agent must have taken its 8.4 path.
	v, err := drbd.ParseKernelVersionCode([]byte(sh(t, p.a, "drbdadm --version 2>/dev/null; true")))
	require.False(t, err != nil || !v.Is84(), "guest DRBD version %v (%v): the lab expects the in-tree 8.4", v, err)
	res := sh(t, p.a, "cat "+drbdConfigDir+"/"+r.name+".res")
	assert.False(t, !strings.Contains(res, "for DRBD 8.4") || strings.Contains(res, "node-id"), "node-a's resource file is not DRBD 8.4 syntax:\n%s", res)
	p.waitInSync(t, p.a, r.name, time.Minute)
	p.waitInSync(t, p.b, r.name, time.Minute)
	st := nodeStatus(t, p.c, p.a)
	assert.Equal(t, p.b.Name, findResource(st, r.name).GetPeers()[0].GetNodeName(), "node-a reports its peer as %q", findResource(st, r.name).GetPeers()[0].GetNodeName())
	drbdadm(t, p.a, "primary", r.name)
	sumA := writePattern(t, p.a, dev, 8)
	pn := findResource(nodeStatus(t, p.c, p.b), r.name).GetPrimaryNode()
	assert.Equal(t, p.a.Name, pn, "node-b reports primary %q, want %s", pn, p.a.Name)
	drbdadm(t, p.a, "secondary", r.name)
	drbdadm(t, p.b, "primary", r.name)
	got := checksum(t, p.b, dev, 8)
	require.Equal(t, sumA, got, "node-b reads %s, node-a wrote %s", got, sumA)
	sumB := writePattern(t, p.b, dev, 8)
	drbdadm(t, p.b, "secondary", r.name)
	drbdadm(t, p.a, "primary", r.name)
	got = checksum(t, p.a, dev, 8)
	require.Equal(t, sumB, got, "node-a reads %s, node-b wrote %s", got, sumB)
	drbdadm(t, p.a, "secondary", r.name)
	return sumB
}

// scenarioResize: scenario 3. Grow the volume while connected (and in use
// on A: DRBD 8.4 resizes only with a Primary); both see the new size.
func scenarioResize(t *testing.T, p *pair, r replicated, sum string) {
	dev := drbdDev(r.minor)
	drbdadm(t, p.a, "primary", r.name)
	p.resources[0].mib = 96
	timed(t, "converge resize to 96 MiB", func() { p.converge(t) })
	for _, vm := range []*labVM{p.a, p.b} {
		waitFor(t, 30*time.Second, vm.Name+": DRBD device grown", func() (bool, string) {
			kib := kib(t, sh(t, vm, fmt.Sprintf("echo $(( $(cat /sys/block/drbd%d/size) / 2 ))", r.minor)))
			return kib >= 96<<10, fmt.Sprintf("%d KiB", kib)
		})
	}
	got := checksum(t, p.a, dev, 8)
	require.Equal(t, sum, got, "data changed by the resize on node-a")
	p.waitInSync(t, p.a, r.name, time.Minute)
	drbdadm(t, p.a, "secondary", r.name)
	drbdadm(t, p.b, "primary", r.name)
	got = checksum(t, p.b, dev, 8)
	require.Equal(t, sum, got, "data changed by the resize on node-b")
	drbdadm(t, p.b, "secondary", r.name)
	p.resources[0] = r
	p.resources[0].mib = 96
}

// scenarioDeletionSafety: scenario 6. A desired state without the resource
// (as after a lost controller database) changes nothing: volume, DRBD and
// data stay, and the agent reports them as orphans.
func scenarioDeletionSafety(t *testing.T, p *pair, r replicated, sum string) {
	empty := p.desired(p.a)
	empty.Resources = nil
	res := apply(t, p.c, p.a, empty)
	assert.EqualValues(t, 0, res.GetMutatingCommandsRun(), "a desired state without %s ran %d mutating commands", r.name, res.GetMutatingCommandsRun())
	kinds := map[agentv1.Orphan_Kind]bool{}
	for _, o := range res.GetOrphans() {
		if o.GetResource() == r.name {
			kinds[o.GetKind()] = true
		}
	}
	for _, k := range []agentv1.Orphan_Kind{agentv1.Orphan_BACKING_VOLUME, agentv1.Orphan_DRBD_CONFIG, agentv1.Orphan_DRBD_RESOURCE} {
		assert.True(t, kinds[k], "orphan %s of %s not reported; orphans: %v", k, r.name, res.GetOrphans())
	}
	st := nodeStatus(t, p.c, p.a)
	assert.NotEqual(t, 0, len(st.GetOrphans()), "status reports no orphans")
	_, ok := lvs(t, p.a, vgName)[r.name+"_00000"]
	require.True(t, ok, "backing LV of %s is gone", r.name)
	p.waitInSync(t, p.a, r.name, 30*time.Second)
	drbdadm(t, p.a, "primary", r.name)
	got := checksum(t, p.a, drbdDev(r.minor), 8)
	require.Equal(t, sum, got, "data of the orphan changed")
	drbdadm(t, p.a, "secondary", r.name)
	res = apply(t, p.c, p.a, p.desired(p.a))
	assert.False(t, res.GetMutatingCommandsRun() != 0 || len(res.GetOrphans()) != 0, "re-told: %d mutating commands, orphans %v", res.GetMutatingCommandsRun(), res.GetOrphans())
}

// scenarioRestart: scenario 5. The agent is killed while it converges a new
// resource, restarted, finishes without destroying anything, and a no-op
// converge then runs no mutating command (checked in the executor's log).
func scenarioRestart(t *testing.T, p *pair, r1 replicated, sum string) {
	r2 := replicated{name: "pvc-r2", minor: 1001, port: 7001, mib: 32}
	p.resources = append(p.resources, r2)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	applied := make(chan error, 1)
	go func() {
		_, err := p.c.Agent(p.a).Apply(ctx, p.desired(p.a))
		applied <- err
	}()
	// Kill as soon as the executor logs the first change for pvc-r2.
	waitFor(t, time.Minute, "node-a agent to start converging pvc-r2", func() (bool, string) {
		out, _ := p.a.Shell(ctx, fmt.Sprintf(`grep -c 'mutating=true.*%s\|%s.*mutating=true' %s || true`, r2.name, r2.name, agentLog))
		return strings.TrimSpace(out) != "0", "no mutating command for pvc-r2 yet"
	})
	require.NoError(t, p.c.KillAgent(ctx, p.a))
	if err := <-applied; err == nil {
		t.Log("the interrupted Apply finished before the kill; the restart still must converge")
	}
	t.Logf("killed the agent mid-converge; executor log:\n%s", sh(t, p.a, "grep 'host command' "+agentLog+" | tail -n 4"))
	require.NoError(t, p.c.StartAgent(ctx, p.a, agentFlags...))
	timed(t, "converge after the restart", func() { p.converge(t) })
	p.waitInSync(t, p.a, r2.name, time.Minute)
	p.waitInSync(t, p.a, r1.name, time.Minute)
	drbdadm(t, p.a, "primary", r1.name)
	got := checksum(t, p.a, drbdDev(r1.minor), 8)
	require.Equal(t, sum, got, "data of %s changed by the restart", r1.name)
	drbdadm(t, p.a, "secondary", r1.name)
	for _, vm := range []*labVM{p.a, p.b} {
		before := strings.Count(sh(t, vm, "cat "+agentLog), "\n")
		res := apply(t, p.c, vm, p.desired(vm))
		log := sh(t, vm, fmt.Sprintf("tail -n +%d %s", before+1, agentLog))
		assert.False(t, res.GetMutatingCommandsRun() != 0 || strings.Contains(log, "mutating=true"), "%s: no-op converge ran %d mutating commands; executor log:\n%s", vm.Name, res.GetMutatingCommandsRun(), log)
		assert.Contains(t, log, "mutating=false", "%s: the executor's debug log shows no commands at all:\n%s", vm.Name, log)
	}
}

// scenarioFailure: scenario 4. node-a is powered off while Primary right
// after an acknowledged write; node-b is promoted and holds every byte;
// node-a comes back, its agent reconnects it and it resyncs what node-b
// wrote meanwhile.
func scenarioFailure(t *testing.T, p *pair, r replicated) {
	dev := drbdDev(r.minor)
	drbdadm(t, p.a, "primary", r.name)
	// Protocol C: dd returns after fsync only once node-b has the data too.
	acked := writePattern(t, p.a, dev, 16)
	p.a.Stop()
	waitFor(t, time.Minute, "node-b to lose node-a", func() (bool, string) {
		peers := findResource(nodeStatus(t, p.c, p.b), r.name).GetPeers()
		return len(peers) == 1 && peers[0].GetConnectionState() != "Connected", fmt.Sprint(peers)
	})
	drbdadm(t, p.b, "primary", r.name)
	got := checksum(t, p.b, dev, 16)
	require.Equal(t, acked, got, "node-b lost acknowledged writes: reads %s, node-a wrote %s", got, acked)
	// Writes while node-a is away: what it must resync.
	const resyncMiB = 32
	sh(t, p.b, fmt.Sprintf("dd if=/dev/urandom of=%s bs=1M count=%d oflag=direct conv=fsync 2>/dev/null", dev, resyncMiB))
	want := checksum(t, p.b, dev, resyncMiB)

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	timed(t, "node-a reboot", func() {
		require.NoError(t, p.c.Restart(ctx, p.a))
	})
	require.NoError(t, p.c.StartAgent(ctx, p.a, agentFlags...))
	begin := time.Now()
	p.converge(t)
	sync := watchResync(t, p.a, r.minor)
	p.waitInSync(t, p.a, r.name, 2*time.Minute)
	t.Logf("resync: node-a back in sync %s after its agent was re-told; %s", time.Since(begin).Round(100*time.Millisecond), sync)
	drbdadm(t, p.b, "secondary", r.name)
	drbdadm(t, p.a, "primary", r.name)
	got = checksum(t, p.a, dev, resyncMiB)
	require.Equal(t, want, got, "node-a after resync reads %s, node-b wrote %s", got, want)
	drbdadm(t, p.a, "secondary", r.name)
}

// watchResync follows /proc/drbd of a SyncTarget until its disk is
// UpToDate and describes the resync: how much, how long, at what rate.
func watchResync(t *testing.T, vm *labVM, minor uint32) string {
	t.Helper()
	var start time.Time
	var oosKiB uint64
	speed := ""
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		proc := sh(t, vm, "cat /proc/drbd")
		dev := procDevice(proc, minor)
		if strings.Contains(dev, "ds:UpToDate/UpToDate") {
			if start.IsZero() {
				return "the resync had finished before it was first seen"
			}
			took := time.Since(start)
			return fmt.Sprintf("resync of %d KiB took ≤%s (%.2f MB/s measured; DRBD reported %s)",
				oosKiB, took.Round(100*time.Millisecond), float64(oosKiB)*1024/1e6/took.Seconds(), speed)
		}
		if strings.Contains(dev, "SyncTarget") {
			if start.IsZero() {
				start = time.Now()
			}
			for _, f := range strings.Fields(dev) {
				if v, ok := strings.CutPrefix(f, "oos:"); ok && oosKiB == 0 {
					oosKiB = kib(t, v)
				}
			}
			if i := strings.Index(dev, "speed:"); i >= 0 {
				speed = strings.TrimSpace(strings.SplitN(dev[i:], "\n", 2)[0])
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	require.FailNow(t, "no resync to UpToDate within 3 minutes", vm.Name)
	return ""
}

// procDevice returns the lines of /proc/drbd about one minor.
func procDevice(proc string, minor uint32) string {
	head := fmt.Sprintf("%d:", minor)
	var out []string
	in := false
	for _, line := range strings.Split(proc, "\n") {
		trimmed := strings.TrimSpace(line)
		if len(trimmed) > 0 && trimmed[0] >= '0' && trimmed[0] <= '9' && strings.Contains(trimmed, ": cs:") {
			in = strings.HasPrefix(trimmed, head)
		}
		if in {
			out = append(out, trimmed)
		}
	}
	return strings.Join(out, "\n")
}

// scenarioRefusal84: the guest's DRBD 8.4 cannot run three replicas; the
// agent says so, naming the version and feature, and creates nothing.
func scenarioRefusal84(t *testing.T, p *pair) {
	d := p.desired(p.a)
	three := &agentv1.Resource{Name: "pvc-three", Uid: "uid-three",
		Volumes: []*agentv1.Volume{{Number: 0, Minor: 1009, SizeKib: 16 << 10, StoragePool: poolThin}},
		Drbd: &agentv1.DrbdResource{Port: 7009, NodeId: 0, Address: p.a.Addr, Peers: []*agentv1.DrbdPeer{
			{NodeName: p.b.Name, NodeId: 1, Address: p.b.Addr},
			{NodeName: "node-c", NodeId: 2, Address: "192.168.77.3", Diskless: true},
		}}}
	d.Resources = append(d.Resources, three)
	res, err := p.c.Agent(p.a).Apply(t.Context(), d)
	require.NoError(t, err)
	for _, r := range res.GetResources() {
		switch {
		case r.GetName() != three.GetName():
			assert.Equal(t, agentv1.Outcome_UNCHANGED, r.GetOutcome(), "%s: %s (%s)", r.GetName(), r.GetOutcome(), r.GetMessage())
		case r.GetOutcome() != agentv1.Outcome_FAILED || !strings.Contains(r.GetMessage(), "DRBD is 8.4.11") || !strings.Contains(r.GetMessage(), "3 replicas"):
			assert.Fail(t, "3 replicas on DRBD 8.4: want FAILED naming 8.4.11 and 3 replicas", "%s %q", r.GetOutcome(), r.GetMessage())
		default:
			t.Logf("refused: %s", r.GetMessage())
		}
	}
	assert.EqualValues(t, 0, res.GetMutatingCommandsRun(), "the refusal ran %d mutating commands", res.GetMutatingCommandsRun())
	_, ok := lvs(t, p.a, vgName)["pvc-three_00000"]
	assert.False(t, ok, "a backing volume was created for the refused resource")
}
