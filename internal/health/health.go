// Package health serves the /healthz and /readyz endpoints of the
// long-running components (kubelet probes), one way for all of them.
package health

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// Probes answer /healthz (ok while serving and every Check passes) and
// /readyz (ok once Ready was called).
type Probes struct {
	ready atomic.Bool
	srv   *http.Server
}

// Check is a liveness condition of /healthz (a dependency answering); an
// error makes /healthz answer 503 with the error.
type Check func(context.Context) error

// Serve serves the probes on addr until Stop; an empty addr serves none
// (the component runs without probes, as in a one-shot run).
func Serve(ctx context.Context, addr string, checks ...Check) (*Probes, error) {
	p := &Probes{}
	if addr == "" {
		return p, nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		for _, check := range checks {
			if err := check(r.Context()); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = w.Write([]byte("ok"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !p.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("health endpoint %s: %w", addr, err)
	}
	p.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := p.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // the listener is gone; the probes will say so
		}
	}()
	return p, nil
}

// Ready makes /readyz answer ok.
func (p *Probes) Ready() { p.ready.Store(true) }

// Stop stops serving.
func (p *Probes) Stop() {
	if p.srv == nil {
		return
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = p.srv.Shutdown(shutdown)
}
