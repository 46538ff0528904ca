package linstorapi

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	lapi "github.com/LINBIT/golinstor/client"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/piraeusctl/piraeusctl/internal/freeport"
	"github.com/piraeusctl/piraeusctl/internal/testpki"
)

// TestServeTLS: with a TLS directory (the apiTLS Secret's files) the API
// is HTTPS and answers only clients with a certificate of its CA.
func TestServeTLS(t *testing.T) {
	ca := testpki.NewCA(t, "linstor-api-ca")
	dir := ca.WriteServerDir(t)
	ports, err := freeport.New()
	require.NoError(t, err)
	port, err := ports.Pick()
	require.NoError(t, err)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	c := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(testTopology()).Build()
	srv := New(Options{Client: c})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, addr, dir) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	u, _ := url.Parse("https://" + addr)

	with := func(signer *testpki.CA) *lapi.Client {
		api, err := lapi.NewClient(lapi.BaseURL(u), lapi.HTTPClient(&http.Client{Timeout: 5 * time.Second,
			Transport: &http.Transport{TLSClientConfig: testpki.ClientConfig(t, ca, signer)}}))
		require.NoError(t, err)
		return api
	}
	require.Eventually(t, func() bool {
		_, err := with(ca).Nodes.GetAll(ctx)
		return err == nil
	}, 5*time.Second, 20*time.Millisecond, "a client certificate of the CA is served")
	_, err = with(nil).Nodes.GetAll(ctx)
	require.Error(t, err, "no client certificate")
	_, err = with(testpki.NewCA(t, "other")).Nodes.GetAll(ctx)
	require.Error(t, err, "a certificate of another CA")
}

// TestServing: the readiness check fails until Serve listens, and again
// when its address is taken (the controller then is not ready).
func TestServing(t *testing.T) {
	srv := New(Options{Client: fake.NewClientBuilder().WithScheme(testScheme(t)).Build()})
	require.Error(t, srv.Serving(), "before Serve")
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	require.ErrorContains(t, srv.Serve(t.Context(), taken.Addr().String(), ""), "address already in use")
	require.Error(t, srv.Serving(), "after a failed Serve")

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, "127.0.0.1:0", "") }()
	require.Eventually(t, func() bool { return srv.Serving() == nil }, 10*time.Second, 10*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	require.Error(t, srv.Serving(), "after Serve returned")
}
