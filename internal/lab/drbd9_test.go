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
	"github.com/piraeusctl/piraeusctl/internal/lab"
)

// TestLabDRBD9 runs three VMs with DRBD 9 (built by hack/lab/lab.sh) and the
// agent's DRBD 9 path, in order: a 3-replica volume with quorum, a
// 2-replica volume with a diskless tie-breaker (the agent killed while it
// converges it), online resize, deletion safety, a primary power-cut and a
// partitioned node. Each step builds on the state the previous one left.
func TestLabDRBD9(t *testing.T) {
	t.Parallel()
	start := time.Now()
	c := bootWithAgents(t, lab.Options{VMs: 3})
	s := &replicaSet{c: c, vms: c.VMs}
	q3 := drbdRes{name: "pvc-q3", minor: 1000, port: 7000, mib: 64, net: slowNet,
		quorum: majority(agentv1.OnNoQuorum_ON_NO_QUORUM_IO_ERROR)}
	// As the Piraeus HA controller recommends: suspend I/O without quorum,
	// and a suspended Primary that finds newer data steps down on its own.
	tb := drbdRes{name: "pvc-tb", minor: 1001, port: 7001, mib: 32, tieBreaker: c.VMs[2].Name, net: slowNet,
		quorum:  majority(agentv1.OnNoQuorum_ON_NO_QUORUM_SUSPEND_IO),
		options: map[string]string{"on-suspended-primary-outdated": "force-secondary"}}
	var sum string // checksum of q3's first 8 MiB
	runScenarios(t, []scenario{
		{"three-replicas", func(t *testing.T) { sum = scenarioThreeReplicas(t, s, q3) }},
		{"tie-breaker", func(t *testing.T) { scenarioTieBreaker(t, s, tb) }},
		{"online-resize", func(t *testing.T) { scenarioResize(t, s, sum) }},
		{"deletion-safety", func(t *testing.T) { scenarioDeletionSafety(t, s, sum) }},
		{"power-cut", func(t *testing.T) { scenarioPowerCut(t, s) }},
		{"partition", func(t *testing.T) { scenarioPartition(t, s) }},
	})
	t.Logf("timing: DRBD 9 VMs, all scenarios with boot: %s", time.Since(start).Round(100*time.Millisecond))
}

// slowNet are the net options of the DRBD 9 resources. Emulated VMs on a
// busy 2-core host can miss DRBD's default 0.5 s ping timeout: a healthy
// connection then drops, and a node that just lost one peer loses quorum
// too (seen at a load average of 26). 3 s pings and 9 s request timeouts
// keep them up and still detect a dead peer within ~13 s.
var slowNet = map[string]string{"ping-timeout": "30", "timeout": "90"}

func majority(on agentv1.OnNoQuorum) *agentv1.Quorum {
	return &agentv1.Quorum{Policy: agentv1.QuorumPolicy_QUORUM_MAJORITY, OnNoQuorum: on}
}

// scenarioThreeReplicas: the agents converge a 3-replica volume with
// `quorum majority` on the guests' DRBD 9; data written on each node is
// read on another. It returns the checksum of the first 8 MiB.
func scenarioThreeReplicas(t *testing.T, s *replicaSet, r drbdRes) string {
	a, b, c := s.vms[0], s.vms[1], s.vms[2]
	s.resources = append(s.resources, r)
	timed(t, "converge new 3-replica resource", func() { s.converge(t) })
	v, err := drbd.ParseProcDRBD([]byte(sh(t, a, "cat /proc/drbd")))
	require.False(t, err != nil || v.Major != 9, "guest DRBD version %v (%v): the lab boots DRBD 9 by default", v, err)
	t.Logf("guest DRBD %s", v)
	res := sh(t, a, "cat "+drbdConfigDir+"/"+r.name+".res")
	for _, want := range []string{"quorum majority;", "on-no-quorum io-error;", "node-id 2;", `hosts "node-a" "node-b" "node-c";`} {
		assert.Contains(t, res, want, "node-a's resource file")
	}
	timed(t, "3 replicas in sync", func() { s.waitInSync(t, r.name, time.Minute) })
	for _, vm := range s.vms {
		st := findResource(nodeStatus(t, s.c, vm), r.name)
		assert.True(t, st.GetQuorum(), "%s reports no quorum for %s", vm.Name, r.name)
	}
	drbdadm(t, a, "primary", r.name)
	sumA := writePattern(t, a, drbdDev(r.minor), 8)
	pn := findResource(nodeStatus(t, s.c, c), r.name).GetPrimaryNode()
	assert.Equal(t, a.Name, pn, "node-c reports primary %q, want %s", pn, a.Name)
	handOver(t, a, c, &r, 8, sumA)
	sumC := writePattern(t, c, drbdDev(r.minor), 8)
	handOver(t, c, b, &r, 8, sumC)
	drbdadm(t, b, "secondary", r.name)
	return sumC
}

// scenarioTieBreaker: a 2-replica volume with a diskless tie-breaker on
// node-c. node-a's agent is killed (SIGKILL) as soon as it starts changing
// things for it and restarted; the converge then finishes without losing
// anything. node-c holds no backing volume, reads over the network what
// node-a wrote, and a repeated converge runs no mutating command anywhere.
func scenarioTieBreaker(t *testing.T, s *replicaSet, r drbdRes) {
	a, b, c := s.vms[0], s.vms[1], s.vms[2]
	s.resources = append(s.resources, r)
	timed(t, "agent killed mid-converge and restarted", func() { killMidConverge(t, s, a, r.name) })
	timed(t, "converge the tie-breaker resource", func() { s.converge(t) })
	timed(t, "tie-breaker resource in sync", func() { s.waitInSync(t, r.name, time.Minute) })
	_, ok := lvs(t, c, vgName)[r.name+"_00000"]
	assert.False(t, ok, "the tie-breaker %s has a backing volume for %s", c.Name, r.name)
	_, onC := statusJSON(t, c)
	tbOnC := onC[r.name]
	d, ok := tbOnC.Device(0)
	assert.False(t, !ok || !d.Client || d.DiskState != "Diskless" || !d.Quorum, "on the tie-breaker, %s volume 0 is %+v; want a diskless client with quorum", r.name, d)
	_, onA := statusJSON(t, a)
	tbOnA := onA[r.name]
	conn, ok := tbOnA.Connection(c.Name)
	assert.False(t, !ok || len(conn.PeerDevices) != 1 || !conn.PeerDevices[0].PeerClient, "node-a does not see %s as a diskless client of %s: %+v", c.Name, r.name, conn)
	drbdadm(t, a, "primary", r.name)
	sum := writePattern(t, a, drbdDev(r.minor), 8)
	handOver(t, a, c, &r, 8, sum) // read over the network: node-c has no disk
	sum = writePattern(t, c, drbdDev(r.minor), 4)
	handOver(t, c, b, &r, 4, sum)
	drbdadm(t, b, "secondary", r.name)
	timed(t, "no-op converge on all three", func() { s.noopConverge(t) })

	record(t, "events2-drbd9-now.txt", eventsNow(t, a))
	record(t, "events2-drbd9-now-tiebreaker.txt", eventsNow(t, c))
	raw, _ := statusJSON(t, a)
	record(t, "status-drbd9.json", raw)
	raw, _ = statusJSON(t, c)
	record(t, "status-drbd9-tiebreaker.json", raw)
	show := sh(t, a, "drbdsetup show --json")
	opts, err := drbd.ParseShowJSON([]byte(show))
	assert.NoError(t, err, "the agent's show parser fails on real DRBD 9 output: %v\n%s", err, show)
	// show omits defaults: suspend-io (pvc-tb) is DRBD's on-no-quorum default.
	for name, want := range map[string]drbd.Options{"pvc-q3": {Quorum: "majority", OnNoQuorum: "io-error"}, r.name: {Quorum: "majority"}} {
		assert.Equal(t, want, opts[name], "drbdsetup show --json: %s has %+v, want %+v", name, opts[name], want)
	}
	record(t, "show-drbd9.json", show)
}

// killMidConverge applies the desired state to vm and kills its agent as
// soon as the executor logs the first change for resource name; then it
// starts the agent again.
func killMidConverge(t *testing.T, s *replicaSet, vm *labVM, name string) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	applied := make(chan error, 1)
	client, d := s.c.Agent(vm), s.desired(vm)
	go func() {
		_, err := client.Apply(ctx, d)
		applied <- err
	}()
	waitFor(t, time.Minute, vm.Name+" agent to start converging "+name, func() (bool, string) {
		out, _ := vm.Shell(ctx, fmt.Sprintf(`grep -c 'mutating=true.*%s\|%s.*mutating=true' %s || true`, name, name, agentLog))
		return strings.TrimSpace(out) != "0", "no mutating command for " + name + " yet"
	})
	require.NoError(t, s.c.KillAgent(ctx, vm))
	if err := <-applied; err == nil {
		t.Log("the interrupted Apply finished before the kill; the restart still must converge")
	}
	t.Logf("killed the agent mid-converge; executor log:\n%s", sh(t, vm, "grep 'host command' "+agentLog+" | tail -n 4"))
	require.NoError(t, s.c.StartAgent(ctx, vm, agentFlags...))
}

// scenarioResize: the 3-replica volume grows from 64 to 96 MiB while it is
// in use on node-a; every node sees the new size and the data stays.
func scenarioResize(t *testing.T, s *replicaSet, sum string) {
	a, b := s.vms[0], s.vms[1]
	r := s.res("pvc-q3")
	drbdadm(t, a, "primary", r.name)
	r.mib = 96
	timed(t, "converge resize to 96 MiB", func() { s.converge(t) })
	for _, vm := range s.vms {
		waitFor(t, 30*time.Second, vm.Name+": DRBD device grown", func() (bool, string) {
			kib := kib(t, sh(t, vm, fmt.Sprintf("echo $(( $(cat /sys/block/drbd%d/size) / 2 ))", r.minor)))
			return kib >= r.mib<<10, fmt.Sprintf("%d KiB", kib)
		})
	}
	got := checksum(t, a, drbdDev(r.minor), 8)
	require.Equal(t, sum, got, "data changed by the resize on node-a")
	s.waitInSync(t, r.name, time.Minute)
	handOver(t, a, b, r, 8, sum)
	drbdadm(t, b, "secondary", r.name)
}

// scenarioDeletionSafety: a desired state without the resources (as after
// a lost controller database) changes nothing: volumes, DRBD and data
// stay, and the agent reports them as orphans.
func scenarioDeletionSafety(t *testing.T, s *replicaSet, sum string) {
	a := s.vms[0]
	empty := s.desired(a)
	empty.Resources = nil
	res := apply(t, s.c, a, empty)
	assert.Zero(t, res.GetMutatingCommandsRun(), "a desired state without resources ran %d mutating commands", res.GetMutatingCommandsRun())
	for _, r := range s.resources {
		kinds := map[agentv1.Orphan_Kind]bool{}
		for _, o := range res.GetOrphans() {
			if o.GetResource() == r.name {
				kinds[o.GetKind()] = true
			}
		}
		for _, k := range []agentv1.Orphan_Kind{agentv1.Orphan_BACKING_VOLUME, agentv1.Orphan_DRBD_CONFIG, agentv1.Orphan_DRBD_RESOURCE} {
			assert.True(t, kinds[k], "orphan %s of %s not reported; orphans: %v", k, r.name, res.GetOrphans())
		}
		_, ok := lvs(t, a, vgName)[r.name+"_00000"]
		require.True(t, ok, "backing LV of %s is gone", r.name)
	}
	st := nodeStatus(t, s.c, a)
	assert.NotEmpty(t, st.GetOrphans(), "status reports no orphans")
	r := s.res("pvc-q3")
	s.waitInSync(t, r.name, 30*time.Second, a)
	handOver(t, nil, a, r, 8, sum)
	drbdadm(t, a, "secondary", r.name)
	res = apply(t, s.c, a, s.desired(a))
	assert.Zero(t, res.GetMutatingCommandsRun(), "re-told: mutating commands")
	assert.Empty(t, res.GetOrphans(), "re-told: orphans")
}

// scenarioPowerCut: node-a is powered off while Primary right after an
// acknowledged write. node-b and node-c keep quorum; node-b is promoted,
// holds every byte and writes on. node-a comes back, its agent brings the
// resources up again, and it resyncs what node-b wrote meanwhile. events2
// is recorded on the survivor and on the returning node.
func scenarioPowerCut(t *testing.T, s *replicaSet) {
	a, b, c := s.vms[0], s.vms[1], s.vms[2]
	r := s.res("pvc-q3")
	dev := drbdDev(r.minor)
	survivor := startEvents(t, b, "powercut-survivor")
	drbdadm(t, a, "primary", r.name)
	// Protocol C: dd returns after fsync only once the peers have the data too.
	acked := writePattern(t, a, dev, 16)
	a.Stop()
	// The survivors notice, and settle: right after losing the Primary their
	// disks are Consistent until they agree they are UpToDate.
	timed(t, "survivors notice the power-cut", func() {
		for _, vm := range []*labVM{b, c} {
			waitFor(t, time.Minute, vm.Name+" to lose node-a and settle", func() (bool, string) {
				_, m := statusJSON(t, vm)
				k := m[r.name]
				conn, _ := k.Connection(a.Name)
				d, _ := k.Device(0)
				return conn != nil && conn.State != "Connected" && d != nil && d.DiskState == "UpToDate",
					fmt.Sprintf("node-a %+v, disk %+v", conn, d)
			})
		}
	})
	for _, vm := range []*labVM{b, c} {
		for _, res := range s.resources {
			st := findResource(nodeStatus(t, s.c, vm), res.name)
			assert.True(t, st.GetQuorum(), "%s lost quorum for %s when one of three nodes failed", vm.Name, res.name)
		}
	}
	handOver(t, nil, b, r, 16, acked)
	// Writes while node-a is away: what it must resync.
	const resyncMiB = 32
	want := writePattern(t, b, dev, resyncMiB)

	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	timed(t, "node-a reboot", func() {
		require.NoError(t, s.c.Restart(ctx, a))
	})
	returning := startEvents(t, a, "powercut-returning")
	require.NoError(t, s.c.StartAgent(ctx, a, agentFlags...))
	begin := time.Now()
	timed(t, "converge after the reboot", func() { s.converge(t) })
	for _, res := range s.resources {
		s.waitInSync(t, res.name, 2*time.Minute)
	}
	t.Logf("resync: node-a back in sync %s after its agent was re-told", time.Since(begin).Round(100*time.Millisecond))
	handOver(t, b, a, r, resyncMiB, want)
	drbdadm(t, a, "secondary", r.name)

	out := returning.stop(t)
	t.Logf("resync as node-a's events2 shows it: %s", describeResync(t, out, r.name))
	record(t, "events2-drbd9-powercut-returning.txt", out)
	out = survivor.stop(t)
	lost := quorumLost(t, out)
	assert.Empty(t, lost, "node-b's events2 shows quorum lost for %v", lost)
	record(t, "events2-drbd9-powercut-survivor.txt", out)
}

// describeResync reads a SyncTarget's events2 capture: how much was out of
// sync, and how long the resync took.
func describeResync(t *testing.T, out, name string) string {
	var begin, end time.Time
	oos := ""
	replay(t, out, func(ev drbd.Event, _ map[string]drbd.Resource) {
		if ev.Object != "peer-device" || ev.Props["name"] != name {
			return
		}
		switch ev.Props["replication"] {
		case "SyncTarget":
			if begin.IsZero() {
				begin, oos = ev.Time, ev.Props["out-of-sync"]
			}
		case "Established":
			if !begin.IsZero() && end.IsZero() {
				end = ev.Time
			}
		}
	})
	if begin.IsZero() || end.IsZero() {
		return "no SyncTarget → Established in the capture"
	}
	return fmt.Sprintf("%s KiB out of sync at the start, resynced in %s", oos, end.Sub(begin).Round(10*time.Millisecond))
}

// scenarioPartition: node-b, Primary of both volumes, loses its links to
// the other two. It loses quorum: the 3-replica volume (on-no-quorum
// io-error) fails writes, the tie-breaker volume (suspend-io) freezes them.
// node-a and node-c keep quorum (node-c's diskless vote breaks the tie of
// the 2-replica volume), node-a is promoted and writes on. When the links
// come back, node-b (stepped down, or forced down by
// on-suspended-primary-outdated) resyncs and holds node-a's data.
func scenarioPartition(t *testing.T, s *replicaSet) {
	a, b := s.vms[0], s.vms[1]
	q3, tb := s.res("pvc-q3"), s.res("pvc-tb")
	for _, r := range []*drbdRes{q3, tb} {
		drbdadm(t, b, "primary", r.name)
	}
	isolated := startEvents(t, b, "partition-isolated")
	majority := startEvents(t, a, "partition-majority")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	require.NoError(t, b.SetLinks(ctx, false))
	timed(t, "node-b notices it is cut off", func() {
		waitFor(t, time.Minute, "node-b to lose quorum", func() (bool, string) {
			_, m := statusJSON(t, b)
			q, qt := m[q3.name], m[tb.name]
			d, _ := q.Device(0)
			e, _ := qt.Device(0)
			return d != nil && e != nil && !d.Quorum && !e.Quorum, fmt.Sprintf("%s %+v, %s %+v", q3.name, d, tb.name, e)
		})
	})
	st := nodeStatus(t, s.c, b)
	for _, r := range []*drbdRes{q3, tb} {
		assert.False(t, findResource(st, r.name).GetQuorum(), "node-b's agent reports quorum for %s while DRBD has none", r.name)
	}
	// io-error: a write fails at once.
	_, err := b.Shell(ctx, fmt.Sprintf("dd if=/dev/zero of=%s bs=4k count=1 oflag=direct", drbdDev(q3.minor)))
	var ee *lab.ExecError
	if assert.ErrorAs(t, err, &ee, "write to %s without quorum: want an I/O error", q3.name) {
		assert.Contains(t, ee.Stderr, "Input/output error", "write to %s without quorum", q3.name)
	}
	// suspend-io: a write hangs.
	sh(t, b, fmt.Sprintf(`(dd if=/dev/urandom of=%s bs=1M count=4 oflag=direct 2>/tmp/dd-tb.err; echo $? >/tmp/dd-tb.rc) </dev/null >/dev/null 2>&1 &
sleep 3`, drbdDev(tb.minor)))
	rc := sh(t, b, "cat /tmp/dd-tb.rc 2>/dev/null; true")
	assert.Empty(t, rc, "write to %s without quorum ended (exit %s); want it suspended", tb.name, strings.TrimSpace(rc))
	raw, onB := statusJSON(t, b)
	assert.True(t, onB[tb.name].Suspended, "node-b: %s (suspend-io) not suspended", tb.name)
	assert.False(t, onB[q3.name].Suspended, "node-b: %s (io-error) suspended", q3.name)
	record(t, "status-drbd9-partitioned.json", raw)

	// The majority goes on.
	for _, vm := range []*labVM{a, s.vms[2]} {
		for _, r := range s.resources {
			st := findResource(nodeStatus(t, s.c, vm), r.name)
			assert.True(t, st.GetQuorum(), "%s lost quorum for %s when node-b was cut off", vm.Name, r.name)
		}
	}
	sums := map[string]string{}
	for _, r := range []*drbdRes{q3, tb} {
		drbdadm(t, a, "primary", r.name)
		sums[r.name] = writePattern(t, a, drbdDev(r.minor), 4)
	}

	// Heal: node-b's failed volume is stepped down by hand (its writer got
	// errors); the suspended one must step down by itself on reconnect.
	drbdadm(t, b, "secondary", q3.name)
	require.NoError(t, b.SetLinks(ctx, true))
	timed(t, "node-b back in sync", func() {
		for _, r := range []*drbdRes{q3, tb} {
			s.waitInSync(t, r.name, 2*time.Minute)
		}
	})
	ended := sh(t, b, "cat /tmp/dd-tb.rc /tmp/dd-tb.err 2>/dev/null; true")
	if assert.False(t, strings.HasPrefix(ended, "0") || ended == "", "the write suspended on node-b did not fail after node-b rejoined: %q", ended) {
		t.Logf("the suspended write on node-b ended after the heal: %s", strings.ReplaceAll(strings.TrimSpace(ended), "\n", "; "))
	}
	for _, r := range []*drbdRes{q3, tb} {
		handOver(t, a, b, r, 4, sums[r.name])
		drbdadm(t, b, "secondary", r.name)
	}

	out := isolated.stop(t)
	lost := quorumLost(t, out)
	assert.True(t, lost[q3.name] && lost[tb.name], "node-b's events2 shows quorum lost for %v; want both volumes", lost)
	record(t, "events2-drbd9-partition-isolated.txt", out)
	out = majority.stop(t)
	lost = quorumLost(t, out)
	assert.Empty(t, lost, "node-a's events2 shows quorum lost for %v", lost)
	record(t, "events2-drbd9-partition-majority.txt", out)
}

// quorumLost replays an events2 capture and returns the resources that
// were without quorum at some point.
func quorumLost(t *testing.T, out string) map[string]bool {
	lost := map[string]bool{}
	replay(t, out, func(_ drbd.Event, st map[string]drbd.Resource) {
		for name, r := range st {
			if d, ok := r.Device(0); ok && !d.Quorum {
				lost[name] = true
			}
		}
	})
	return lost
}
