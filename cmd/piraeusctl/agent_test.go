package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
	"github.com/piraeusctl/piraeusctl/internal/freeport"
	"github.com/piraeusctl/piraeusctl/internal/testpki"
	"github.com/piraeusctl/piraeusctl/internal/testsupport"
)

// TestMainHelper is not a test: started by TestAgentProcess as a child
// process with PIRAEUSCTL_TEST_MAIN=1, it runs the CLI on the arguments
// after "--" as main does, so the child is `piraeusctl ...` as a real process.
func TestMainHelper(t *testing.T) {
	if os.Getenv("PIRAEUSCTL_TEST_MAIN") != "1" {
		return
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	os.Exit(runWithSignals(args, os.Stdin, os.Stdout, os.Stderr))
}

// TestAgentProcess starts `piraeusctl agent` as a process with a file pool
// on this machine, drives it over mTLS to converge two resources, reads
// their status and stops it with SIGTERM.
func TestAgentProcess(t *testing.T) {
	testsupport.RequireRoot(t, "the agent process test (real loop devices)")
	ca := testpki.NewCA(t, "cluster-ca")
	addr := freeAddr(t)
	poolDir := filepath.Join(t.TempDir(), "pool")
	cmd := exec.Command(os.Args[0], "-test.run=^TestMainHelper$", "--",
		"agent", "--listen", addr, "--tls-dir", ca.WriteServerDir(t), "--drbd-config-dir", t.TempDir())
	cmd.Env = append(os.Environ(), "PIRAEUSCTL_TEST_MAIN=1", "NODE_NAME=node-p")
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("agent output:\n%s", logs.String())
		}
	}()
	waitListening(t, addr, exited)

	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(testpki.ClientConfig(t, ca, ca))))
	require.NoError(t, err)
	defer conn.Close()
	client := agentv1.NewAgentClient(conn)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	pool := &agentv1.StoragePool{Name: "files", ProviderKind: agentv1.ProviderKind_FILE_THIN, Directory: poolDir}
	var resources []*agentv1.Resource
	for _, name := range []string{"vol-1", "vol-2"} {
		resources = append(resources, &agentv1.Resource{Name: name, Uid: "uid-" + name, Layers: []agentv1.Layer{agentv1.Layer_STORAGE},
			Volumes: []*agentv1.Volume{{Number: 0, SizeKib: 8 << 10, StoragePool: "files"}}})
	}
	state := &agentv1.NodeDesiredState{NodeName: "node-p", StoragePools: []*agentv1.StoragePool{pool}, Resources: resources}
	res, err := client.Apply(ctx, state)
	require.NoError(t, err)
	for _, r := range res.Resources {
		assert.Equal(t, agentv1.Outcome_CHANGED, r.Outcome, "%s: %v %s", r.Name, r.Outcome, r.Message)
	}
	watch, err := client.WatchStatus(ctx, &agentv1.WatchRequest{})
	require.NoError(t, err)
	st, err := watch.Recv()
	require.NoError(t, err)
	require.False(t, len(st.Resources) != 2 || len(st.Pools) != 1 || st.Pools[0].CapacityKib == 0, "status = %v", st)
	for _, r := range st.Resources {
		v := r.Volumes[0]
		assert.False(t, !strings.HasPrefix(v.DevicePath, "/dev/loop") || v.BackingSizeKib != 8<<10, "%s: %v", r.Name, v)
	}
	for _, r := range resources {
		_, err := client.DeleteResource(ctx, &agentv1.DeleteResourceRequest{NodeName: "node-p", Name: r.Name, Uid: r.Uid,
			StoragePools: []*agentv1.StoragePool{pool}})
		require.NoError(t, err)
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-exited:
		assert.NoError(t, err, "agent exit after SIGTERM")
	case <-time.After(15 * time.Second):
		require.FailNow(t, "agent did not stop within 15s of SIGTERM")
	}
}

// freeAddr is a loopback address for a command to listen on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ports, err := freeport.New()
	require.NoError(t, err)
	port, err := ports.Pick()
	require.NoError(t, err)
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

func waitListening(t *testing.T, addr string, exited <-chan error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			require.FailNow(t, "agent exited early", "%v", err)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.FailNow(t, "agent not listening after 20s", addr)
}
