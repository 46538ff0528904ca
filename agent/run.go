package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
	"github.com/piraeusctl/piraeusctl/hostexec"
)

// DefaultListen is the agent's gRPC address (LINSTOR's satellite port).
const DefaultListen = ":3366"

// Options configure `piraeusctl agent`.
type Options struct {
	// Listen is the TCP address to serve on.
	Listen string
	// NodeName is the Kubernetes node name (from the Downward API).
	NodeName string
	// TLS names the certificate files; mutual TLS is mandatory.
	TLS TLSFiles
	// ConfigDir holds the DRBD resource files.
	ConfigDir string
	// CommandTimeout bounds each host command.
	CommandTimeout time.Duration
	// Workers is how many resources converge at once (0: DefaultWorkers).
	Workers int
	// DRBDSimDir, when set, simulates DRBD (package drbdsim) with its
	// state in this directory, shared by the agents of one test or local
	// datastore. Test and local-datastore mode only.
	DRBDSimDir string
	// DRBDSimResyncTime is how long a simulated full resync takes.
	DRBDSimResyncTime time.Duration
	// Ready, if set, receives the bound address once the agent listens.
	Ready  func(addr net.Addr)
	Logger *slog.Logger
}

// DefaultOptions returns the defaults of `piraeusctl agent`.
func DefaultOptions() Options {
	return Options{Listen: DefaultListen, ConfigDir: DefaultConfigDir, CommandTimeout: hostexec.DefaultTimeout, Workers: DefaultWorkers}
}

// Run serves the agent until ctx ends.
func Run(ctx context.Context, opts Options) error {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	tlsConf, err := ServerTLS(opts.TLS)
	if err != nil {
		return err
	}
	exec, procDRBD, err := hostExecutor(opts, log)
	if err != nil {
		return err
	}
	a, err := New(Config{NodeName: opts.NodeName, ConfigDir: opts.ConfigDir, Workers: opts.Workers, Logger: log, Exec: exec, ProcDRBD: procDRBD})
	if err != nil {
		return err
	}
	lis, err := (&net.ListenConfig{}).Listen(ctx, "tcp", opts.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", opts.Listen, err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(tlsConf)))
	agentv1.RegisterAgentServer(srv, &Server{Agent: a, Stopping: ctx.Done()})
	log.InfoContext(ctx, "agent listening", "addr", lis.Addr().String(), "node", opts.NodeName)
	if opts.Ready != nil {
		opts.Ready(lis.Addr())
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	select {
	case <-ctx.Done():
		stopGracefully(srv, 5*time.Second)
		<-done
		return nil
	case err := <-done:
		if errors.Is(err, grpc.ErrServerStopped) {
			return nil
		}
		return fmt.Errorf("serve: %w", err)
	}
}

// stopGracefully lets running calls finish, but ends open status streams
// after grace.
func stopGracefully(srv *grpc.Server, grace time.Duration) {
	stopped := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(grace):
		srv.Stop()
		<-stopped
	}
}
