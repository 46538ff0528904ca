// Package csitest runs the CSI driver inside a test and connects to CSI
// endpoints, for the tests that call the driver as the sidecars and the
// kubelet do (csi-sanity, the local datastore, the lab).
package csitest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	csipb "github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/piraeusctl/piraeusctl/csi"
)

// readyTimeout bounds the wait for a driver's Probe: it asks the LINSTOR
// API, which a crowded machine may answer slowly at first.
const readyTimeout = 3 * time.Minute

// Serve runs the driver with opts in this process until the test ends (on
// a socket in the test's temporary folder when opts.Endpoint is empty),
// waits until it answers Probe ready, and returns its endpoint.
func Serve(t testing.TB, opts csi.Options) string {
	t.Helper()
	if opts.Endpoint == "" {
		opts.Endpoint = "unix://" + filepath.Join(t.TempDir(), "csi.sock")
	}
	d, err := csi.New(opts)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done, "CSI driver at %s", opts.Endpoint)
	})
	WaitReady(t, csipb.NewIdentityClient(Dial(t, opts.Endpoint)), "the CSI driver at "+opts.Endpoint)
	return opts.Endpoint
}

// Dial connects to a CSI endpoint, a unix:// socket or a host:port, until
// the test ends.
func Dial(t testing.TB, target string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

// WaitReady waits until a driver answers Probe ready: it serves and
// reaches the LINSTOR API. what names the driver in the failure.
func WaitReady(t testing.TB, id csipb.IdentityClient, what string) {
	t.Helper()
	deadline := time.Now().Add(readyTimeout)
	for {
		ready, answer := probe(t.Context(), id)
		if ready {
			return
		}
		if time.Now().After(deadline) {
			require.FailNow(t, what+" never answered Probe ready", "within %s; last answer: %s", readyTimeout, answer)
		}
		select {
		case <-t.Context().Done():
			require.FailNow(t, what+" never answered Probe ready", "the test ended; last answer: %s", answer)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// probe asks once, and says what the driver answered.
func probe(ctx context.Context, id csipb.IdentityClient) (bool, string) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := id.Probe(ctx, &csipb.ProbeRequest{})
	if err != nil {
		return false, err.Error()
	}
	return resp.GetReady().GetValue(), resp.String()
}
