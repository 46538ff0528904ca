package hacontroller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/piraeusctl/piraeusctl/hostexec"
)

// ServeOptions are what `piraeusctl ha-controller` is given.
type ServeOptions struct {
	Config
	RestConfig       *rest.Config
	OperationTimeout time.Duration
	ResyncInterval   time.Duration
	// HealthAddr serves /healthz and /metrics; empty for none.
	HealthAddr string
	// Events2File replaces `drbdsetup events2` by a file or FIFO, and the
	// host by a FileHost answering `drbdsetup show --json` from ShowFile.
	Events2File, ShowFile string
	Logger                *slog.Logger
}

// DefaultServeOptions are upstream piraeus-ha-controller's defaults.
func DefaultServeOptions() ServeOptions {
	return ServeOptions{
		Config:           Config{FailOverTimeout: 5 * time.Second, GracePeriodSeconds: 10},
		OperationTimeout: 30 * time.Second,
		ResyncInterval:   15 * time.Minute,
		HealthAddr:       ":8000",
	}
}

// Serve runs the HA controller until ctx ends.
func Serve(ctx context.Context, o ServeOptions) error {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.FailOverTimeout < 0 || o.GracePeriodSeconds < 0 {
		return errors.New("ha-controller: --fail-over-timeout and --grace-period-seconds must not be negative")
	}
	client, err := kubernetes.NewForConfig(o.RestConfig)
	if err != nil {
		return fmt.Errorf("ha-controller: client: %w", err)
	}
	opts := Options{Config: o.Config, Client: client, ResyncInterval: o.ResyncInterval,
		OperationTimeout: o.OperationTimeout, Logger: o.Logger, Metrics: NewMetrics()}
	if o.Events2File != "" {
		opts.Source = FileSource{Path: o.Events2File}
		opts.Exec = NewFileHost(o.ShowFile, o.Logger)
	} else {
		local := &hostexec.Local{Timeout: o.OperationTimeout, Logger: o.Logger}
		opts.Source, opts.Exec = CommandSource{Streamer: local}, local
	}
	c, err := New(opts)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if o.HealthAddr != "" {
		ln, err := net.Listen("tcp", o.HealthAddr)
		if err != nil {
			return fmt.Errorf("ha-controller: health address: %w", err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/healthz", c.Healthz)
		mux.Handle("/metrics", opts.Metrics.Handler())
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				o.Logger.Error("health server stopped", "err", err)
				cancel()
			}
		}()
		defer srv.Close()
		o.Logger.Info("serving /healthz and /metrics", "addr", ln.Addr().String())
	}
	return c.Run(ctx)
}
