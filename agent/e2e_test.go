package agent

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/agent/storage"
	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
	"github.com/piraeusctl/piraeusctl/hostexec"
	"github.com/piraeusctl/piraeusctl/internal/testpki"
	"github.com/piraeusctl/piraeusctl/internal/testsupport"
)

// startAgent serves a real agent (real executor) on 127.0.0.1 and returns
// its address.
func startAgent(t *testing.T, ca *testpki.CA, configDir string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrCh := make(chan net.Addr, 1)
	errCh := make(chan error, 1)
	opts := DefaultOptions()
	opts.Listen, opts.NodeName, opts.ConfigDir = "127.0.0.1:0", "node-a", configDir
	opts.TLS = serverTLS(t, ca)
	opts.Ready = func(a net.Addr) { addrCh <- a }
	opts.Logger = slog.New(slog.DiscardHandler)
	go func() { errCh <- Run(ctx, opts) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-errCh, "agent")
	})
	select {
	case a := <-addrCh:
		return a.String()
	case err := <-errCh:
		require.FailNow(t, "agent did not start", "%v", err)
	case <-time.After(10 * time.Second):
		require.FailNow(t, "agent did not start in 10s")
	}
	return ""
}

func dial(t *testing.T, addr string, conf *tls.Config) agentv1.AgentClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(conf)))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return agentv1.NewAgentClient(conn)
}

// TestMutualTLSRefusesStrangers: no client certificate, or one from a
// foreign CA, is refused; one from the cluster CA works.
func TestMutualTLSRefusesStrangers(t *testing.T) {
	ca := testpki.NewCA(t, "cluster-ca")
	addr := startAgent(t, ca, t.TempDir())
	req := &agentv1.NodeDesiredState{NodeName: "node-a"}
	for name, signer := range map[string]*testpki.CA{"no certificate": nil, "foreign CA": testpki.NewCA(t, "foreign-ca")} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			_, err := dial(t, addr, testpki.ClientConfig(t, ca, signer)).Apply(ctx, req)
			require.Equal(t, codes.Unavailable, status.Code(err), "want the handshake refused (Unavailable), got %v", err)
		})
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	res, err := dial(t, addr, testpki.ClientConfig(t, ca, ca)).Apply(ctx, req)
	require.NoError(t, err, "a client of the cluster CA must be served")
	assert.EqualValues(t, 0, res.MutatingCommandsRun, "empty state ran %d mutating commands", res.MutatingCommandsRun)
	_, err = dial(t, addr, testpki.ClientConfig(t, ca, ca)).Apply(ctx, &agentv1.NodeDesiredState{NodeName: "node-b"})
	assert.Equal(t, codes.InvalidArgument, status.Code(err), "state for another node: want InvalidArgument, got %v", err)
}

// TestLocalEndToEnd drives a real agent over mTLS with a FILE_THIN pool on
// this machine: two storage-only resources (no DRBD module here) are
// converged on real loop devices, reported through WatchStatus, re-applied
// without changes, grown, orphaned without loss and deleted.
func TestLocalEndToEnd(t *testing.T) {
	requireRootTools(t)
	ca := testpki.NewCA(t, "cluster-ca")
	addr := startAgent(t, ca, t.TempDir())
	client := dial(t, addr, testpki.ClientConfig(t, ca, ca))
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	poolDir := filepath.Join(t.TempDir(), "pool")
	pool := &agentv1.StoragePool{Name: "files", ProviderKind: agentv1.ProviderKind_FILE_THIN, Directory: poolDir}
	storageOnly := []agentv1.Layer{agentv1.Layer_STORAGE}
	resA := &agentv1.Resource{Name: "res-a", Uid: "uid-a", Layers: storageOnly,
		Volumes: []*agentv1.Volume{{Number: 0, SizeKib: 16 << 10, StoragePool: "files"}}}
	resB := &agentv1.Resource{Name: "res-b", Uid: "uid-b", Layers: storageOnly,
		Volumes: []*agentv1.Volume{{Number: 0, SizeKib: 8 << 10, StoragePool: "files"}, {Number: 1, SizeKib: 12 << 10, StoragePool: "files"}}}
	state := &agentv1.NodeDesiredState{NodeName: "node-a", StoragePools: []*agentv1.StoragePool{pool}, Resources: []*agentv1.Resource{resA, resB}}
	t.Cleanup(func() { _ = storage.DetachLoopsUnder(context.Background(), &hostexec.Local{}, poolDir) })

	res, err := client.Apply(ctx, state)
	require.NoError(t, err)
	for _, r := range res.Resources {
		require.Equal(t, agentv1.Outcome_CHANGED, r.Outcome, "%s: %v %s", r.Name, r.Outcome, r.Message)
	}

	watch, err := client.WatchStatus(ctx, &agentv1.WatchRequest{PollIntervalMs: 100})
	require.NoError(t, err)
	st, err := watch.Recv()
	require.NoError(t, err)
	checkStatus(t, st, map[string][]uint64{"res-a": {16 << 10}, "res-b": {8 << 10, 12 << 10}})
	p := st.Pools[0]
	assert.False(t, p.CapacityKib == 0 || p.FreeKib == 0 || p.Error != "", "pool status = %v", p)

	// The same state again changes nothing.
	res, err = client.Apply(ctx, state)
	require.False(t, err != nil || res.MutatingCommandsRun != 0, "re-apply: %v, %d mutating commands", err, res.GetMutatingCommandsRun())

	// Grow res-a; the watcher sees the new size.
	resA.Volumes[0].SizeKib = 32 << 10
	res, err = client.Apply(ctx, state)
	require.False(t, err != nil || res.Resources[0].Outcome != agentv1.Outcome_CHANGED, "grow: %v %v", err, res)
	st = recvUntil(t, watch, func(st *agentv1.NodeStatus) bool {
		return len(st.Resources) > 0 && st.Resources[0].Volumes[0].BackingSizeKib == 32<<10
	})
	dev := st.Resources[0].Volumes[0].DevicePath
	out, err := exec.Command("blockdev", "--getsize64", dev).Output()
	assert.False(t, err != nil || strings.TrimSpace(string(out)) != "33554432", "%s size = %s (%v), want 33554432", dev, out, err)

	// Dropping res-b from the state keeps it: it is an orphan.
	state.Resources = []*agentv1.Resource{resA}
	res, err = client.Apply(ctx, state)
	require.False(t, err != nil || res.MutatingCommandsRun != 0 || len(res.Orphans) != 2, "omit res-b: %v, result %v", err, res)
	entries, _ := os.ReadDir(poolDir)
	require.Len(t, entries, 3, "pool has %d files, want 3: an omitted resource must be kept", len(entries))

	// Explicit deletes: a wrong uid is refused, the right one removes all.
	del := &agentv1.DeleteResourceRequest{NodeName: "node-a", Name: "res-b", Uid: "uid-x", StoragePools: []*agentv1.StoragePool{pool}}
	_, err = client.DeleteResource(ctx, del)
	require.Equal(t, codes.FailedPrecondition, status.Code(err), "delete with a wrong uid: want FailedPrecondition, got %v", err)
	del.Uid = "uid-b"
	_, err = client.DeleteResource(ctx, del)
	require.NoError(t, err)
	del.Name, del.Uid = "res-a", "uid-a"
	_, err = client.DeleteResource(ctx, del)
	require.NoError(t, err)
	entries, _ = os.ReadDir(poolDir)
	assert.Len(t, entries, 0, "files left: %v", entries)
	out, _ = exec.Command("losetup", "--list", "--noheadings", "--output", "BACK-FILE").Output()
	assert.NotContains(t, string(out), poolDir, "loop devices left:\n%s", out)
}

func checkStatus(t *testing.T, st *agentv1.NodeStatus, want map[string][]uint64) {
	t.Helper()
	require.False(t, st.NodeName != "node-a" || len(st.Resources) != len(want) || len(st.Errors) != 0, "status = %v", st)
	for _, r := range st.Resources {
		sizes := want[r.Name]
		require.False(t, len(r.Volumes) != len(sizes) || r.DrbdUp, "%s: volumes %v", r.Name, r.Volumes)
		for i, v := range r.Volumes {
			assert.False(t, v.BackingSizeKib != sizes[i] || !strings.HasPrefix(v.DevicePath, "/dev/loop"), "%s volume %d = %v", r.Name, i, v)
		}
	}
}

func recvUntil(t *testing.T, w agentv1.Agent_WatchStatusClient, ok func(*agentv1.NodeStatus) bool) *agentv1.NodeStatus {
	t.Helper()
	for {
		st, err := w.Recv()
		require.NoError(t, err, "watch")
		if ok(st) {
			return st
		}
	}
}

func requireRootTools(t *testing.T) {
	t.Helper()
	testsupport.RequireRoot(t, "the local end-to-end test (real loop devices)", "losetup", "truncate", "blockdev")
}
