package lab_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const drbdConfigDir = "/var/lib/piraeusctl/drbd.d"

// drbdRes is one single-volume DRBD resource over thin LVs, replicated to
// every VM of a replica set.
type drbdRes struct {
	name  string
	minor uint32
	port  uint32
	mib   uint64
	// tieBreaker is the node that holds no data (a diskless replica).
	tieBreaker string
	quorum     *agentv1.Quorum
	options    map[string]string
	net        map[string]string
}

// replicaSet is the VMs of a replication scenario and what they are told:
// node-ids are the VMs' positions, the first VM is the initial primary, and
// the initial sync is skipped (all replicas are new thin volumes).
type replicaSet struct {
	c         *labCluster
	vms       []*labVM
	resources []drbdRes
	// drbd84: the VMs run DRBD 8.4 (no quorum, no status --json).
	drbd84 bool
}

// res returns the resource named name; it must exist.
func (s *replicaSet) res(name string) *drbdRes {
	for i := range s.resources {
		if s.resources[i].name == name {
			return &s.resources[i]
		}
	}
	panic("no resource " + name)
}

func (s *replicaSet) desired(vm *labVM) *agentv1.NodeDesiredState {
	d := &agentv1.NodeDesiredState{NodeName: vm.Name, StoragePools: labPools(vm.Disk)[:1]}
	for _, r := range s.resources {
		res := &agentv1.Resource{
			Name: r.name, Uid: "uid-" + r.name,
			Volumes: []*agentv1.Volume{{Number: 0, Minor: r.minor, SizeKib: r.mib << 10, StoragePool: poolThin,
				Diskless: r.tieBreaker == vm.Name}},
			Drbd: &agentv1.DrbdResource{Port: r.port, Address: vm.Addr, Quorum: r.quorum, ResourceOptions: r.options,
				NetOptions: r.net, InitialPrimary: vm == s.vms[0], SkipInitialSync: true},
		}
		for i, p := range s.vms {
			if p == vm {
				res.Drbd.NodeId = uint32(i)
				continue
			}
			res.Drbd.Peers = append(res.Drbd.Peers, &agentv1.DrbdPeer{NodeName: p.Name, NodeId: uint32(i), Address: p.Addr,
				Diskless: r.tieBreaker == p.Name})
		}
		d.Resources = append(d.Resources, res)
	}
	return d
}

// applyAll applies each VM's desired state, all VMs at once, and returns
// the results in the order of vms.
func (s *replicaSet) applyAll(t *testing.T, vms []*labVM) []*agentv1.ApplyResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	results := make([]*agentv1.ApplyResult, len(vms))
	errs := make([]error, len(vms))
	var wg sync.WaitGroup
	for i, vm := range vms {
		client, d := s.c.Agent(vm), s.desired(vm)
		wg.Go(func() { results[i], errs[i] = client.Apply(ctx, d) })
	}
	wg.Wait()
	for i, vm := range vms {
		require.NoError(t, errs[i], "apply on %s", vm.Name)
	}
	return results
}

// converge applies the desired state to every VM until nothing is pending
// (the initial sync waits for the peers to connect; a resize waits for
// every replica's backing volume and for resyncs). A failed resource fails
// the test, except when drbdadm gave up waiting for one of its drbdsetup
// calls (it allows them 5 s, which a busy emulated VM can exceed): the next
// round retries that, as the controller would.
func (s *replicaSet) converge(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var pending []string
		for i, res := range s.applyAll(t, s.vms) {
			for _, r := range res.GetResources() {
				what := s.vms[i].Name + "/" + r.GetName() + ": " + r.GetMessage()
				switch {
				case r.GetOutcome() == agentv1.Outcome_FAILED && strings.Contains(r.GetMessage(), "did not terminate within"):
					t.Logf("retrying after a drbdadm timeout: %s", what)
					pending = append(pending, what)
				case r.GetOutcome() == agentv1.Outcome_FAILED:
					require.Failf(t, "apply failed", "apply on %s: resource %s failed: %s", s.vms[i].Name, r.GetName(), r.GetMessage())
				case r.GetOutcome() == agentv1.Outcome_PENDING:
					pending = append(pending, what)
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

// wantDisk is the disk state node has in sync: Diskless on the tie-breaker.
func (r *drbdRes) wantDisk(node string) string {
	if node == r.tieBreaker {
		return "Diskless"
	}
	return "UpToDate"
}

// inSync reports whether vm has resource name at its wanted disk state with
// every peer connected and at its wanted disk state, as DRBD's own status
// says (read with the agent's parser; cheap to poll, unlike the agent's
// status, which scans LVM).
func (s *replicaSet) inSync(t *testing.T, vm *labVM, name string) (bool, string) {
	r := s.res(name)
	_, m := statusJSON(t, vm)
	k, ok := m[name]
	d, hasDev := k.Device(0)
	if !ok || !hasDev || len(k.Connections) != len(s.vms)-1 {
		return false, fmt.Sprintf("%+v", k)
	}
	done := d.DiskState == r.wantDisk(vm.Name) && d.Quorum
	state := []string{fmt.Sprintf("disk %s quorum %t", d.DiskState, d.Quorum)}
	for _, c := range k.Connections {
		disk, repl := "", ""
		if len(c.PeerDevices) > 0 {
			disk, repl = c.PeerDevices[0].PeerDiskState, c.PeerDevices[0].ReplicationState
		}
		done = done && c.State == "Connected" && repl == "Established" && disk == r.wantDisk(c.Name)
		state = append(state, fmt.Sprintf("%s %s %s %s", c.Name, c.State, repl, disk))
	}
	return done, strings.Join(state, ", ")
}

// agentInSync is inSync as vm's agent reports it.
func (s *replicaSet) agentInSync(t *testing.T, vm *labVM, name string) (bool, string) {
	r := s.res(name)
	st := findResource(nodeStatus(t, s.c, vm), name)
	if st == nil || len(st.GetVolumes()) == 0 || len(st.GetPeers()) != len(s.vms)-1 {
		return false, fmt.Sprint(st)
	}
	done := st.GetVolumes()[0].GetDiskState() == r.wantDisk(vm.Name) && st.GetQuorum()
	state := []string{fmt.Sprintf("disk %s quorum %t", st.GetVolumes()[0].GetDiskState(), st.GetQuorum())}
	for _, p := range st.GetPeers() {
		disk := ""
		if len(p.GetVolumes()) > 0 {
			disk = p.GetVolumes()[0].GetPeerDiskState()
		}
		done = done && p.GetConnectionState() == "Connected" && disk == r.wantDisk(p.GetNodeName())
		state = append(state, fmt.Sprintf("%s %s %s", p.GetNodeName(), p.GetConnectionState(), disk))
	}
	return done, strings.Join(state, ", ")
}

// waitInSync waits until every VM of vms sees resource name in sync, then
// checks that their agents report it so. DRBD 8.4 has no `status --json`:
// there the agent's status is polled.
func (s *replicaSet) waitInSync(t *testing.T, name string, timeout time.Duration, vms ...*labVM) {
	t.Helper()
	if len(vms) == 0 {
		vms = s.vms
	}
	for _, vm := range vms {
		poll := s.inSync
		if s.drbd84 {
			poll = s.agentInSync
		}
		waitFor(t, timeout, fmt.Sprintf("%s: %s in sync with all peers", vm.Name, name), func() (bool, string) {
			return poll(t, vm, name)
		})
		ok, state := s.agentInSync(t, vm, name)
		assert.True(t, ok, "%s: DRBD has %s in sync, but the agent reports %s", vm.Name, name, state)
	}
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

// handOver makes to Primary of res after from (if any) stepped down, and
// checks that to reads the checksum sum of the first mib MiB.
func handOver(t *testing.T, from, to *labVM, r *drbdRes, mib int, sum string) {
	t.Helper()
	if from != nil {
		drbdadm(t, from, "secondary", r.name)
	}
	drbdadm(t, to, "primary", r.name)
	got := checksum(t, to, drbdDev(r.minor), mib)
	require.Equal(t, sum, got, "%s reads %s from %s, want %s", to.Name, got, r.name, sum)
}

// noopConverge applies the unchanged desired state to each VM and checks
// that no mutating command ran, in the result and in the executor's log.
func (s *replicaSet) noopConverge(t *testing.T) {
	t.Helper()
	for _, vm := range s.vms {
		before := strings.Count(sh(t, vm, "cat "+agentLog), "\n")
		res := apply(t, s.c, vm, s.desired(vm))
		log := sh(t, vm, fmt.Sprintf("tail -n +%d %s", before+1, agentLog))
		assert.False(t, res.GetMutatingCommandsRun() != 0 || strings.Contains(log, "mutating=true"), "%s: no-op converge ran %d mutating commands; executor log:\n%s", vm.Name, res.GetMutatingCommandsRun(), log)
		assert.Contains(t, log, "mutating=false", "%s: the executor's debug log shows no commands at all", vm.Name)
	}
}
