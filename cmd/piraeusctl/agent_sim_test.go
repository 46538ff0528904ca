package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
	"github.com/piraeusctl/piraeusctl/internal/testpki"
	"github.com/piraeusctl/piraeusctl/internal/testsupport"
)

// syncBuffer is a log sink shared by a process and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// agentProc is a `piraeusctl agent` process.
type agentProc struct {
	node   string
	args   []string
	log    *syncBuffer
	cmd    *exec.Cmd
	exited chan error
}

func (p *agentProc) start(t *testing.T) {
	t.Helper()
	p.cmd = exec.Command(os.Args[0], append([]string{"-test.run=^TestMainHelper$", "--"}, p.args...)...)
	p.cmd.Env = append(os.Environ(), "PIRAEUSCTL_TEST_MAIN=1", "NODE_NAME="+p.node)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	require.NoError(t, p.cmd.Start())
	p.exited = make(chan error, 1)
	go func() { p.exited <- p.cmd.Wait() }()
	waitListening(t, p.args[2], p.exited)
}

// stop signals the process and waits for it (killing it after 15s).
func (p *agentProc) stop(sig syscall.Signal) {
	p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// TestSimulatedAgentProcesses starts three `piraeusctl agent --drbd-sim-dir`
// processes sharing one directory, as hack/local-up.sh does, and drives a
// 3-replica resource on FILE_THIN pools to UpToDate on all of them; the
// agents say loudly that DRBD is simulated and log each simulated command
// at debug level. An agent killed with SIGKILL and restarted finds the
// simulated kernel as it left it: re-told, it runs no mutating command.
func TestSimulatedAgentProcesses(t *testing.T) {
	testsupport.RequireRoot(t, "the simulated agents (real loop devices)")
	ca := testpki.NewCA(t, "cluster-ca")
	tlsDir, simDir := ca.WriteServerDir(t), t.TempDir()
	nodes := []string{"node-a", "node-b", "node-c"}
	clients := map[string]agentv1.AgentClient{}
	pools := map[string]*agentv1.StoragePool{}
	procs := map[string]*agentProc{}
	for _, node := range nodes {
		addr := freeAddr(t)
		p := &agentProc{node: node, log: &syncBuffer{}, args: []string{"agent", "--listen", addr, "--tls-dir", tlsDir,
			"--drbd-config-dir", t.TempDir(), "--drbd-sim-dir", simDir, "--log-level", "debug"}}
		p.start(t)
		procs[node] = p
		t.Cleanup(func() {
			p.stop(syscall.SIGTERM)
			if t.Failed() {
				t.Logf("%s output:\n%s", node, p.log)
			}
		})
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(testpki.ClientConfig(t, ca, ca))))
		require.NoError(t, err)
		t.Cleanup(func() { conn.Close() })
		clients[node] = agentv1.NewAgentClient(conn)
		pools[node] = &agentv1.StoragePool{Name: "files", ProviderKind: agentv1.ProviderKind_FILE_THIN, Directory: filepath.Join(t.TempDir(), "pool")}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	desired := func(node string) *agentv1.NodeDesiredState {
		d := &agentv1.DrbdResource{Port: 7000}
		for i, n := range nodes {
			addr := fmt.Sprintf("127.0.0.%d", i+1)
			if n == node {
				d.NodeId, d.Address = uint32(i), addr
				continue
			}
			d.Peers = append(d.Peers, &agentv1.DrbdPeer{NodeName: n, NodeId: uint32(i), Address: addr})
		}
		d.InitialPrimary, d.SkipInitialSync = node == "node-a", true
		return &agentv1.NodeDesiredState{NodeName: node, StoragePools: []*agentv1.StoragePool{pools[node]},
			Resources: []*agentv1.Resource{{Name: "vol-1", Uid: "uid-vol-1", Drbd: d,
				Volumes: []*agentv1.Volume{{Number: 0, Minor: 1000, SizeKib: 8 << 10, StoragePool: "files"}}}}}
	}
	upToDate := func() bool {
		for _, node := range nodes {
			_, err := clients[node].Apply(ctx, desired(node))
			require.NoError(t, err, "%s", node)
		}
		for _, node := range nodes {
			w, err := clients[node].WatchStatus(ctx, &agentv1.WatchRequest{})
			require.NoError(t, err)
			st, err := w.Recv()
			require.NoError(t, err)
			r := st.Resources[0]
			if r.Volumes[0].DiskState != "UpToDate" || len(r.Peers) != 2 || r.Peers[0].ConnectionState != "Connected" || r.Peers[1].ConnectionState != "Connected" {
				return false
			}
		}
		return true
	}
	start, rounds := time.Now(), 1
	for ; !upToDate(); rounds++ {
		require.NotEqual(t, 5, rounds, "vol-1 not UpToDate and connected everywhere after 5 rounds")
	}
	t.Logf("vol-1 UpToDate on three agent processes: %d rounds of Apply, %v", rounds, time.Since(start))
	procs["node-b"].stop(syscall.SIGKILL)
	procs["node-b"].start(t)
	res, err := clients["node-b"].Apply(ctx, desired("node-b"))
	assert.False(t, err != nil || res.MutatingCommandsRun != 0 || res.Resources[0].Outcome != agentv1.Outcome_UNCHANGED, "node-b re-told after SIGKILL: %v %v", err, res)
	assert.True(t, upToDate(), "vol-1 not UpToDate and connected everywhere after node-b's restart")
	for _, node := range nodes {
		out := procs[node].log.String()
		for _, want := range []string{"DRBD IS SIMULATED", "simulated DRBD command", "drbdsetup new-current-uuid 1000 --clear-bitmap"} {
			if node != "node-a" && strings.Contains(want, "new-current-uuid") {
				continue
			}
			assert.Contains(t, out, want, "%s: log lacks %q", node, want)
		}
		_, err := clients[node].DeleteResource(ctx, &agentv1.DeleteResourceRequest{NodeName: node, Name: "vol-1", Uid: "uid-vol-1",
			StoragePools: []*agentv1.StoragePool{pools[node]}})
		assert.NoError(t, err, "%s", node)
	}
}

func TestAgentResyncTimeNeedsSimDir(t *testing.T) {
	var out strings.Builder
	code := run(t.Context(), []string{"agent", "--drbd-sim-resync-time", "1s"}, strings.NewReader(""), &out, &out)
	assert.False(t, code != exitInvalid || !strings.Contains(out.String(), "--drbd-sim-resync-time needs --drbd-sim-dir"), "exit %d, output %q", code, out.String())
}
