package agent

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/agent/drbd"
	"github.com/piraeusctl/piraeusctl/agent/drbdsim"
	"github.com/piraeusctl/piraeusctl/agent/storage"
	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
	"github.com/piraeusctl/piraeusctl/hostexec"
	"github.com/piraeusctl/piraeusctl/internal/testpki"
)

// simNode is an agent with the real host executor and DRBD simulated,
// served over mutual TLS on 127.0.0.1 (as `piraeusctl agent
// --drbd-sim-dir` runs it), with a FILE_THIN pool on loop devices.
type simNode struct {
	name   string
	sim    *drbdsim.Sim
	agent  *Agent
	client agentv1.AgentClient
	pool   *agentv1.StoragePool
	conf   string
}

func startSimNode(t *testing.T, ca *testpki.CA, simDir, name string) *simNode {
	t.Helper()
	discard := slog.New(slog.DiscardHandler)
	sim, err := drbdsim.New(drbdsim.Config{Dir: simDir, Node: name, Next: &hostexec.Local{Logger: discard}, Logger: discard})
	require.NoError(t, err)
	n := &simNode{name: name, sim: sim, conf: t.TempDir(),
		pool: &agentv1.StoragePool{Name: "files", ProviderKind: agentv1.ProviderKind_FILE_THIN, Directory: filepath.Join(t.TempDir(), "pool")}}
	t.Cleanup(func() { _ = storage.DetachLoopsUnder(context.Background(), &hostexec.Local{}, n.pool.Directory) })
	n.agent, err = New(Config{NodeName: name, ConfigDir: n.conf, Exec: sim, ProcDRBD: sim.ProcDRBD(), Workers: 1, Logger: discard}) // goldens keep command order
	require.NoError(t, err)
	conf, err := ServerTLS(serverTLS(t, ca))
	require.NoError(t, err)
	lis, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(conf)))
	agentv1.RegisterAgentServer(srv, &Server{Agent: n.agent})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	n.client = dial(t, lis.Addr().String(), testpki.ClientConfig(t, ca, ca))
	return n
}

// replica is one node of a test resource.
type replica struct {
	node     string
	id       uint32
	diskless bool
}

// resourceFor is the resource as node's desired state holds it; the first
// replica starts the data.
func resourceFor(node, name string, minor uint32, sizeKiB uint64, skipSync bool, replicas ...replica) *agentv1.Resource {
	d := &agentv1.DrbdResource{Port: 7000 + minor - 1000,
		Quorum: &agentv1.Quorum{Policy: agentv1.QuorumPolicy_QUORUM_MAJORITY, OnNoQuorum: agentv1.OnNoQuorum_ON_NO_QUORUM_IO_ERROR}}
	vol := &agentv1.Volume{Number: 0, Minor: minor, SizeKib: sizeKiB, StoragePool: "files"}
	for _, r := range replicas {
		addr := fmt.Sprintf("127.0.0.%d", r.id+1)
		if r.node == node {
			d.NodeId, d.Address, vol.Diskless = r.id, addr, r.diskless
			continue
		}
		d.Peers = append(d.Peers, &agentv1.DrbdPeer{NodeName: r.node, NodeId: r.id, Address: addr, Diskless: r.diskless})
	}
	if node == replicas[0].node {
		d.InitialPrimary, d.SkipInitialSync = true, skipSync
	}
	return &agentv1.Resource{Name: name, Uid: "uid-" + name, Volumes: []*agentv1.Volume{vol}, Drbd: d}
}

// simCluster is the desired state of three nodes: pvc-r3 on all three
// (thin: the initial sync is skipped), pvc-r2 on node-a and node-b with
// node-c as diskless tie-breaker (full initial sync).
type simCluster struct {
	nodes  []*simNode
	r3Size uint64
	withR2 bool
	// r3DisklessC: pvc-r3's replica on node-c is diskless (an evacuation's DropDisk).
	r3DisklessC bool
}

func (c *simCluster) desired(n *simNode) *agentv1.NodeDesiredState {
	d := &agentv1.NodeDesiredState{NodeName: n.name, StoragePools: []*agentv1.StoragePool{n.pool}}
	d.Resources = append(d.Resources, resourceFor(n.name, "pvc-r3", 1000, c.r3Size, true,
		replica{"node-a", 0, false}, replica{"node-b", 1, false}, replica{"node-c", 2, c.r3DisklessC}))
	if c.withR2 {
		d.Resources = append(d.Resources, resourceFor(n.name, "pvc-r2", 1001, 8<<10, false,
			replica{"node-a", 0, false}, replica{"node-b", 1, false}, replica{"node-c", 2, true}))
	}
	return d
}

// converge applies every node's state in turn, as a controller's resync
// does, until a round changes nothing; it returns the number of rounds.
func (c *simCluster) converge(t *testing.T, ctx context.Context) int {
	t.Helper()
	for round := 1; round <= 10; round++ {
		quiet := true
		for _, n := range c.nodes {
			res, err := n.client.Apply(ctx, c.desired(n))
			require.NoError(t, err, "%s", n.name)
			for _, r := range res.Resources {
				require.NotEqual(t, agentv1.Outcome_FAILED, r.Outcome, "%s: %s: %s", n.name, r.Name, r.Message)
				quiet = quiet && r.Outcome == agentv1.Outcome_UNCHANGED
			}
		}
		if quiet {
			return round
		}
	}
	require.FailNow(t, "no steady state after 10 rounds")
	return 0
}

// kernel reads node's simulated DRBD state as `drbdsetup status --json`.
func (n *simNode) kernel(t *testing.T) map[string]drbd.Resource {
	t.Helper()
	res, err := n.sim.Run(t.Context(), drbd.StatusJSON())
	require.NoError(t, err)
	list, err := drbd.ParseStatusJSON(res.Stdout)
	require.NoError(t, err)
	m := map[string]drbd.Resource{}
	for _, r := range list {
		m[r.Name] = r
	}
	return m
}

// checkReplicated: every node reports every resource up with quorum, all
// peers Connected and every disk UpToDate (Diskless for the tie-breaker).
func checkReplicated(t *testing.T, ctx context.Context, nodes []*simNode, names ...string) {
	t.Helper()
	for _, n := range nodes {
		st := n.agent.Status(ctx)
		for _, name := range names {
			i := slices.IndexFunc(st.Resources, func(r *agentv1.ResourceStatus) bool { return r.Name == name })
			if i < 0 {
				assert.Fail(t, fmt.Sprintf("%s: no status of %s", n.name, name))
				continue
			}
			r := st.Resources[i]
			want := "UpToDate"
			if name == "pvc-r2" && n.name == "node-c" {
				want = "Diskless"
			}
			if !r.DrbdUp || !r.Quorum || len(r.Volumes) != 1 || r.Volumes[0].DiskState != want || len(r.Peers) != 2 {
				assert.Fail(t, fmt.Sprintf("%s: %s = %v", n.name, name, r))
				continue
			}
			for _, p := range r.Peers {
				assert.False(t, p.ConnectionState != "Connected" || p.Volumes[0].ReplicationState != "Established", "%s: %s: peer %v", n.name, name, p)
			}
		}
	}
}

// TestSimulatedDRBDThreeAgents: three agents on this host, each with a
// FILE_THIN pool on loop devices and DRBD simulated in one shared
// directory, are driven over mutual TLS as a controller would: a
// 3-replica resource and a 2-replica one with a diskless tie-breaker come
// up, connect and turn UpToDate; data lands on the real backing device; a
// resize grows the DRBD devices on all nodes; deleting one resource
// removes only its backing files.
func TestSimulatedDRBDThreeAgents(t *testing.T) {
	requireRootTools(t)
	ca := testpki.NewCA(t, "cluster-ca")
	simDir := t.TempDir()
	c := &simCluster{r3Size: 16 << 10, withR2: true}
	for _, name := range []string{"node-a", "node-b", "node-c"} {
		c.nodes = append(c.nodes, startSimNode(t, ca, simDir, name))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	start := time.Now()
	rounds := c.converge(t, ctx)
	t.Logf("pvc-r3 (3 replicas) and pvc-r2 (2 + tie-breaker) UpToDate everywhere: %d rounds of Apply, %v", rounds, time.Since(start))
	checkReplicated(t, ctx, c.nodes, "pvc-r3", "pvc-r2")

	// The storage is real: data written to node-a's backing device is in
	// its backing file.
	a := c.nodes[0]
	st := a.agent.Status(ctx)
	dev := st.Resources[slices.IndexFunc(st.Resources, func(r *agentv1.ResourceStatus) bool { return r.Name == "pvc-r3" })].Volumes[0].BackingDevice
	data := bytes.Repeat([]byte("piraeusctl drbdsim "), 1<<10)
	writeAt(t, dev, data, 4096)
	files, _ := filepath.Glob(filepath.Join(a.pool.Directory, "pvc-r3_00000.*.img"))
	require.Len(t, files, 1, "backing files of pvc-r3 on node-a: %v", files)
	got := readAt(t, files[0], len(data), 4096)
	assert.Equal(t, data, got, "backing file %s does not hold what was written to %s", files[0], dev)

	// Resize: every node grows its backing file and DRBD its device.
	c.r3Size = 32 << 10
	c.converge(t, ctx)
	for _, n := range c.nodes {
		got := n.kernel(t)["pvc-r3"].Devices[0].SizeKiB
		assert.False(t, got < c.r3Size, "%s: DRBD device of pvc-r3 is %d KiB, want at least %d", n.name, got, c.r3Size)
		out, err := exec.Command("blockdev", "--getsize64", backingDevice(t, ctx, n, "pvc-r3")).Output()
		assert.False(t, err != nil || strings.TrimSpace(string(out)) != fmt.Sprint(drbd.GrossSizeKiB(c.r3Size, 0)*1024), "%s: backing device size %s (%v)", n.name, out, err)
	}
	checkReplicated(t, ctx, c.nodes, "pvc-r3", "pvc-r2")

	// Deleting pvc-r2 removes its files and DRBD state, and nothing of pvc-r3.
	for _, n := range c.nodes {
		_, err := n.client.DeleteResource(ctx, &agentv1.DeleteResourceRequest{NodeName: n.name, Name: "pvc-r2", Uid: "uid-pvc-r2",
			StoragePools: []*agentv1.StoragePool{n.pool}})
		require.NoError(t, err, "%s", n.name)
		entries, _ := os.ReadDir(n.pool.Directory)
		var names []string
		for _, e := range entries {
			names = append(names, strings.SplitN(e.Name(), ".", 2)[0])
		}
		assert.Equal(t, []string{"pvc-r3_00000"}, names, "%s: pool holds %v, want only pvc-r3's file", n.name, names)
		k := n.kernel(t)
		assert.False(t, len(k) != 1 || k["pvc-r3"].Name == "", "%s: DRBD resources after the delete: %v", n.name, k)
	}
	c.withR2 = false
	rounds = c.converge(t, ctx)
	assert.EqualValues(t, 1, rounds, "after the delete the state took %d rounds to settle, want 1 (nothing to do)", rounds)
	checkReplicated(t, ctx, c.nodes, "pvc-r3")

	goldenCmds(t, "simulated-three-agents", transcripts(c.nodes))
	for _, n := range c.nodes {
		_, err := n.client.DeleteResource(ctx, &agentv1.DeleteResourceRequest{NodeName: n.name, Name: "pvc-r3", Uid: "uid-pvc-r3",
			StoragePools: []*agentv1.StoragePool{n.pool}})
		assert.NoError(t, err, "%s", n.name)
	}
}

var loopDevice = regexp.MustCompile(`/dev/loop[0-9]+`)

// transcripts renders each node's mutating DRBD commands with what they
// became in the simulated kernel; paths that vary per run are replaced.
func transcripts(nodes []*simNode) string {
	var b strings.Builder
	for _, n := range nodes {
		var entries []drbdsim.Entry
		for _, e := range n.sim.Transcript() {
			if e.Cmd.Mutating {
				entries = append(entries, e)
			}
		}
		s := strings.ReplaceAll(drbdsim.FormatTranscript(entries), n.conf, goldenCD)
		b.WriteString("# " + n.name + "\n" + loopDevice.ReplaceAllString(s, "/dev/loopN"))
	}
	return b.String()
}

func backingDevice(t *testing.T, ctx context.Context, n *simNode, name string) string {
	t.Helper()
	for _, r := range n.agent.Status(ctx).Resources {
		if r.Name == name && len(r.Volumes) > 0 {
			return r.Volumes[0].BackingDevice
		}
	}
	require.FailNow(t, fmt.Sprintf("%s: no backing device of %s", n.name, name))
	return ""
}

func writeAt(t *testing.T, path string, data []byte, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	require.NoError(t, err)
	defer f.Close()
	_, err = f.WriteAt(data, off)
	require.NoError(t, err)
	require.NoError(t, f.Sync())
}

func readAt(t *testing.T, path string, n int, off int64) []byte {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	buf := make([]byte, n)
	_, err = f.ReadAt(buf, off)
	require.NoError(t, err)
	return buf
}
