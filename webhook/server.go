package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/piraeusctl/piraeusctl/internal/health"
	"github.com/piraeusctl/piraeusctl/plan"
)

// ServerOptions configure the webhook server of `piraeusctl operator`.
type ServerOptions struct {
	// Addr is the HTTPS listen address.
	Addr string
	// CertDir holds tls.crt and tls.key (the Secret webhook-server-cert, mounted).
	CertDir string
	// CertWatchInterval is how often the files are re-read besides change events.
	CertWatchInterval time.Duration
	// HealthAddr serves /healthz and /readyz ("" for none).
	HealthAddr string
	// Live lets update checks read the cluster; nil knows nothing.
	Live LiveSource
	// Inputs gives the cluster's objects that warnings about patches are
	// planned with; nil plans the object alone.
	Inputs InputSource
	// Namespace is the datastore's namespace (default piraeus-datastore).
	Namespace string
	// Schemas are the compiled CRD validators (built when nil).
	Schemas *plan.Schemas
	// Logger receives one line per denial.
	Logger *slog.Logger
}

// DefaultServerOptions: port 9443 and controller-runtime's default
// certificate folder, as the operator Deployment mounts it.
func DefaultServerOptions() ServerOptions {
	return ServerOptions{
		Addr:              ":9443",
		CertDir:           "/tmp/k8s-webhook-server/serving-certs",
		CertWatchInterval: 10 * time.Second,
		HealthAddr:        ":8081",
	}
}

// Handler returns the admission handlers of every Resource on their paths.
func Handler(opts ServerOptions) (http.Handler, error) {
	if opts.Schemas == nil {
		s, err := plan.NewSchemas()
		if err != nil {
			return nil, err
		}
		opts.Schemas = s
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Namespace == "" {
		opts.Namespace = plan.DefaultNamespace
	}
	v := &validator{schemas: opts.Schemas, live: opts.Live, inputs: opts.Inputs, namespace: opts.Namespace, log: opts.Logger}
	mux := http.NewServeMux()
	for _, r := range Resources() {
		mux.Handle(r.Path(), &admission.Webhook{Handler: v})
	}
	return mux, nil
}

// Serve listens on opts.Addr and serves the webhook until ctx ends.
func Serve(ctx context.Context, opts ServerOptions) error {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", opts.Addr)
	if err != nil {
		return fmt.Errorf("webhook listen %s: %w", opts.Addr, err)
	}
	return ServeListener(ctx, ln, opts)
}

// ServeListener serves the webhook on ln with the certificate in
// opts.CertDir, picking up a renewed certificate without a restart.
func ServeListener(ctx context.Context, ln net.Listener, opts ServerOptions) error {
	defer ln.Close()
	handler, err := Handler(opts)
	if err != nil {
		return err
	}
	probes, err := health.Serve(ctx, opts.HealthAddr)
	if err != nil {
		return err
	}
	defer probes.Stop()
	watcher, err := watchCertificate(ctx, opts)
	if err != nil {
		return err
	}
	go func() {
		if err := watcher.Start(ctx); err != nil && opts.Logger != nil {
			opts.Logger.Error("certificate watcher stopped", "err", err)
		}
	}()
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: watcher.GetCertificate}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	probes.Ready()
	if err := srv.Serve(tls.NewListener(ln, cfg)); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("webhook server: %w", err)
	}
	return nil
}

// watchCertificate waits until the certificate files exist (the kubelet
// mounts the Secret once gencert has created it), then watches them.
func watchCertificate(ctx context.Context, opts ServerOptions) (*certwatcher.CertWatcher, error) {
	certPath, keyPath := filepath.Join(opts.CertDir, corev1.TLSCertKey), filepath.Join(opts.CertDir, corev1.TLSPrivateKeyKey)
	for {
		w, err := certwatcher.New(certPath, keyPath)
		if err == nil {
			interval := opts.CertWatchInterval
			if interval <= 0 {
				interval = DefaultServerOptions().CertWatchInterval
			}
			return w.WithWatchInterval(interval), nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("webhook certificate in %s: %w", opts.CertDir, err)
		}
		if opts.Logger != nil {
			opts.Logger.Info("waiting for the webhook certificate", "dir", opts.CertDir)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}
