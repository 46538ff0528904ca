package linstorapi

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	lapi "github.com/LINBIT/golinstor/client"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/piraeusctl/piraeusctl/internal/testpki"
)

// TestServeTLS: with a TLS directory (the apiTLS Secret's files) the API
// is HTTPS and answers only clients with a certificate of its CA.
func TestServeTLS(t *testing.T) {
	ca := testpki.NewCA(t, "linstor-api-ca")
	dir := ca.WriteServerDir(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
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
