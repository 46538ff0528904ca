package controller

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/proto"

	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
	"github.com/piraeusctl/piraeusctl/internal/tlsfiles"
)

// AgentTLS names the controller's client certificate and the CA bundle
// that signs the agents' certificates (a kubernetes.io/tls Secret mounted
// as a folder: tls.crt, tls.key, ca.crt). The files are read at every TLS
// handshake, also when gRPC reconnects an existing channel, so a renewed
// certificate or a CA bundle changed by a rotation is used by the next
// connection without a restart, and open connections are not broken.
type AgentTLS struct {
	Dir string
}

// config builds the client TLS configuration for a connection to node's
// agent. The agent's certificate must be signed by a CA of the bundle and
// name the node (DNS SAN or common name): the address it is reached at
// does not matter.
func (a AgentTLS) config(node string) (*tls.Config, error) {
	r, err := tlsfiles.NewReloader(tlsfiles.InDir(a.Dir), nil)
	if err != nil {
		return nil, fmt.Errorf("controller client certificate for the agents (--internal-tls-dir %s): %w", a.Dir, err)
	}
	return r.ClientConfig(func(cs tls.ConnectionState, roots *x509.CertPool) error {
		return verifyAgent(cs, roots, node)
	}), nil
}

// verifyAgent checks the agent's certificate chain against the CA and that
// the certificate is the node's.
func verifyAgent(cs tls.ConnectionState, roots *x509.CertPool, node string) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("agent presented no certificate")
	}
	leaf := cs.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return fmt.Errorf("agent certificate of node %s: %w", node, err)
	}
	if leaf.Subject.CommonName == node || slices.Contains(leaf.DNSNames, node) {
		return nil
	}
	return fmt.Errorf("agent certificate names %q %v, not node %s", leaf.Subject.CommonName, leaf.DNSNames, node)
}

// Dialer opens a connection to one node's agent.
type Dialer func(ctx context.Context, node, address string) (agentv1.AgentClient, Closer, error)

// Closer closes a connection.
type Closer interface{ Close() error }

// GRPCDialer dials agents over gRPC with mutual TLS.
func GRPCDialer(t AgentTLS) Dialer {
	return func(_ context.Context, node, address string) (agentv1.AgentClient, Closer, error) {
		conf, err := t.config(node)
		if err != nil {
			return nil, nil, err
		}
		conn, err := grpc.NewClient(address,
			grpc.WithTransportCredentials(credentials.NewTLS(conf)),
			grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		)
		if err != nil {
			return nil, nil, fmt.Errorf("dial agent of %s at %s: %w", node, address, err)
		}
		return agentv1.NewAgentClient(conn), conn, nil
	}
}

// session is the controller's link to one node's agent: one connection and
// one WatchStatus stream, re-opened with backoff when they break.
type session struct {
	node    string
	address string
	dial    Dialer
	log     *slog.Logger
	// onStatus is called with each status (and with nil when the stream ends).
	onStatus func(node string, st *agentv1.NodeStatus, connected bool, err error)

	mu     sync.Mutex
	client agentv1.AgentClient
	closer Closer
	// generation counts established streams: a new one means the agent may
	// have restarted and must be told its desired state again.
	generation uint64
	cancel     context.CancelFunc
	done       chan struct{}
}

// Client returns the agent client and the stream generation, nil when the
// session has no connection yet.
func (s *session) Client() (agentv1.AgentClient, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.client, s.generation
}

// start runs the watch loop until stop.
func (s *session) start(ctx context.Context) {
	ctx, s.cancel = context.WithCancel(ctx)
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		s.loop(ctx)
	}()
}

func (s *session) stop() {
	if s.cancel != nil {
		s.cancel()
		<-s.done
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closer != nil {
		_ = s.closer.Close()
		s.client, s.closer = nil, nil
	}
}

// loop keeps a WatchStatus stream open, backing off 0.5 s → 30 s between attempts.
func (s *session) loop(ctx context.Context) {
	backoff := 500 * time.Millisecond
	for ctx.Err() == nil {
		err := s.watchOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		s.onStatus(s.node, nil, false, err)
		s.log.Warn("agent status stream ended", "node", s.node, "address", s.address, "err", err, "retryIn", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

// watchOnce connects (if needed) and consumes one stream until it breaks.
func (s *session) watchOnce(ctx context.Context) error {
	client, err := s.connect(ctx)
	if err != nil {
		return err
	}
	stream, err := client.WatchStatus(ctx, &agentv1.WatchRequest{})
	if err != nil {
		s.reset()
		return fmt.Errorf("watch status: %w", err)
	}
	first := true
	var last *agentv1.NodeStatus
	for {
		st, err := stream.Recv()
		if err != nil {
			s.reset()
			return fmt.Errorf("status stream: %w", err)
		}
		if first {
			s.mu.Lock()
			s.generation++
			s.mu.Unlock()
			first = false
			s.log.Info("agent connected", "node", s.node, "address", s.address)
		} else if proto.Equal(last, st) {
			continue
		}
		last = st
		s.onStatus(s.node, st, true, nil)
	}
}

func (s *session) connect(ctx context.Context) (agentv1.AgentClient, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client != nil {
		return s.client, nil
	}
	c, closer, err := s.dial(ctx, s.node, s.address)
	if err != nil {
		return nil, err
	}
	s.client, s.closer = c, closer
	return c, nil
}

// reset drops the connection so the next attempt dials again (with
// freshly read certificates).
func (s *session) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closer != nil {
		_ = s.closer.Close()
	}
	s.client, s.closer = nil, nil
}
