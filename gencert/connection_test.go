package gencert

import (
	"crypto/x509"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/piraeusctl/piraeusctl/agent"
	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
	"github.com/piraeusctl/piraeusctl/controller"
	"github.com/piraeusctl/piraeusctl/internal/tlsfiles"
)

// statusServer streams a status every few milliseconds and records the
// client certificate of each stream.
type statusServer struct {
	agentv1.UnimplementedAgentServer
	mu      sync.Mutex
	clients []*big.Int
}

func (s *statusServer) WatchStatus(_ *agentv1.WatchRequest, stream grpc.ServerStreamingServer[agentv1.NodeStatus]) error {
	if p, ok := peer.FromContext(stream.Context()); ok {
		if info, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(info.State.PeerCertificates) > 0 {
			s.mu.Lock()
			s.clients = append(s.clients, info.State.PeerCertificates[0].SerialNumber)
			s.mu.Unlock()
		}
	}
	for {
		if err := stream.Send(&agentv1.NodeStatus{NodeName: "node-a"}); err != nil {
			return err
		}
		select {
		case <-stream.Context().Done():
			return nil
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (s *statusServer) lastClient() *big.Int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clients[len(s.clients)-1]
}

// writeSecretDir replaces the files of a mounted Secret, each atomically,
// as the kubelet does.
func writeSecretDir(t *testing.T, dir string, data map[string][]byte) {
	t.Helper()
	for _, k := range []string{KeyCACert, KeyTLSCert, KeyTLSKey} {
		tmp := filepath.Join(dir, "."+k)
		require.NoError(t, os.WriteFile(tmp, data[k], 0o600))
		require.NoError(t, os.Rename(tmp, filepath.Join(dir, k)))
	}
}

// stream is an open WatchStatus stream and the agent certificate it saw.
type stream struct {
	recv  func() error
	agent *x509.Certificate
	close func()
}

func openStream(t *testing.T, dir, addr string) stream {
	t.Helper()
	client, closer, err := controller.GRPCDialer(controller.AgentTLS{Dir: dir})(t.Context(), "node-a", addr)
	require.NoError(t, err)
	st, err := client.WatchStatus(t.Context(), &agentv1.WatchRequest{})
	require.NoError(t, err)
	recv := func() error { _, err := st.Recv(); return err }
	require.NoError(t, recv())
	p, ok := peer.FromContext(st.Context())
	require.True(t, ok)
	info := p.AuthInfo.(credentials.TLSInfo)
	return stream{recv: recv, agent: info.State.PeerCertificates[0], close: func() { _ = closer.Close() }}
}

// TestConnectionSurvivesRotation runs gencert's decisions through a
// certificate renewal and a full CA rotation, writing the Secrets into the
// folders an agent (agent.ServerTLS) and the controller (its gRPC dialer)
// read, as the kubelet would: the stream opened first keeps flowing the
// whole time, and each new connection uses the certificates of the moment.
func TestConnectionSurvivesRotation(t *testing.T) {
	p := DefaultPolicy()
	p.Grace = 5 * time.Second
	t0 := time.Now() // handshakes check real time: fake steps stay within the one-minute backdate
	leaves := func(prev *internalRotation) []leafSecret {
		out := []leafSecret{{name: "ctl", prof: controllerProfile()}, {name: "node-a", prof: satelliteProfile("node-a")}}
		if prev != nil {
			out[0].data, out[1].data = prev.leaves[0].data, prev.leaves[1].data
		}
		return out
	}
	step := func(now time.Time, ca map[string][]byte, prev *internalRotation) *internalRotation {
		r, err := rotateInternal(now, ca, leaves(prev), p)
		require.NoError(t, err)
		return r
	}
	ctlDir, agentDir := t.TempDir(), t.TempDir()
	publish := func(r *internalRotation) {
		writeSecretDir(t, ctlDir, r.leaves[0].data)
		writeSecretDir(t, agentDir, r.leaves[1].data)
	}
	r0 := step(t0, nil, nil)
	publish(r0)

	conf, err := agent.ServerTLS(tlsfiles.InDir(agentDir))
	require.NoError(t, err)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(conf)))
	status := &statusServer{}
	agentv1.RegisterAgentServer(srv, status)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	addr := lis.Addr().String()

	first := openStream(t, ctlDir, addr)
	defer first.close()
	serial := func(data map[string][]byte) *big.Int { return servingOf(t, data).SerialNumber }
	require.Equal(t, serial(r0.leaves[1].data), first.agent.SerialNumber)

	// Renewal: both certificates are due and reissued by the same CA.
	renewP := p
	renewP.CertRenewBefore = p.CertValidity
	r1, err := rotateInternal(t0.Add(time.Second), r0.ca.data, leaves(r0), renewP)
	require.NoError(t, err)
	require.NotEqual(t, serial(r0.leaves[1].data), serial(r1.leaves[1].data))
	publish(r1)
	require.NoError(t, first.recv(), "the open stream goes on")
	s1 := openStream(t, ctlDir, addr)
	s1.close()
	require.Equal(t, serial(r1.leaves[1].data), s1.agent.SerialNumber, "a new connection meets the renewed agent certificate")
	require.Equal(t, serial(r1.leaves[0].data), status.lastClient(), "and presents the renewed controller certificate")

	// CA rotation, step 1: the CA key is lost, a new CA joins both bundles.
	caData := cloneData(r1.ca.data)
	delete(caData, KeyCAKey)
	r2 := step(t0.Add(2*time.Second), caData, r1)
	require.Len(t, casOf(t, r2.ca.data), 2)
	publish(r2)
	require.NoError(t, first.recv())
	openStream(t, ctlDir, addr).close()

	// Step 2: the certificates move to the new CA (both still trust both).
	r3 := step(t0.Add(10*time.Second), r2.ca.data, r2)
	newCA := casOf(t, r3.ca.data)[0]
	require.NoError(t, servingOf(t, r3.leaves[1].data).CheckSignatureFrom(newCA))
	publish(r3)
	require.NoError(t, first.recv())
	s3 := openStream(t, ctlDir, addr)
	s3.close()
	require.Equal(t, serial(r3.leaves[1].data), s3.agent.SerialNumber)
	require.Equal(t, serial(r3.leaves[0].data), status.lastClient())

	// Step 3: the old CA leaves both bundles; the first stream, opened
	// under the old CA, still flows; a controller holding an old-CA
	// certificate can no longer connect.
	r4 := step(t0.Add(20*time.Second), r3.ca.data, r3)
	require.Len(t, casOf(t, r4.ca.data), 1)
	publish(r4)
	require.NoError(t, first.recv(), "the stream opened before the rotation survives all of it")
	openStream(t, ctlDir, addr).close()

	oldDir := t.TempDir()
	writeSecretDir(t, oldDir, r1.leaves[0].data)
	client, closer, err := controller.GRPCDialer(controller.AgentTLS{Dir: oldDir})(t.Context(), "node-a", addr)
	require.NoError(t, err)
	defer closer.Close()
	_, err = client.Apply(t.Context(), &agentv1.NodeDesiredState{})
	require.Error(t, err, "a certificate of the retired CA is refused")
}
