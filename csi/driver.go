// Package csi is the CSI driver linstor.csi.linbit.com (`piraeusctl csi`):
// the Identity, Controller and Node services of the CSI spec on a unix
// socket (or a TCP address). It meets the storage controller only through LINSTOR's REST API v1,
// with golinstor, so it and stock linstor-csi are interchangeable: it reads
// the same StorageClass parameters, publishes the same topology keys and
// makes the same kind of LINSTOR calls. The node service mounts with
// k8s.io/mount-utils.
package csi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	lapi "github.com/LINBIT/golinstor/client"
	csipb "github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/singleflight"
	"google.golang.org/grpc"
	"k8s.io/mount-utils"
	utilexec "k8s.io/utils/exec"

	"github.com/piraeusctl/piraeusctl/internal/health"
	"github.com/piraeusctl/piraeusctl/plan"
)

// DriverName is the CSI driver's name, the same as linstor-csi's.
const DriverName = "linstor.csi.linbit.com"

// Topology keys the node service publishes, as linstor-csi does.
const (
	TopologyKeyHostname   = plan.HostnameTopologyKey
	TopologyKeyPoolPrefix = "linbit.com/sp-"
)

// Modes of the driver.
const (
	ModeController = "controller"
	ModeNode       = "node"
	ModeAll        = "all"
)

// Options configure the driver.
type Options struct {
	// Mode is controller, node or all.
	Mode string
	// Endpoint is where the CSI services listen: unix:///path/csi.sock, or
	// tcp://host:port for a client on another machine (no TLS: only on a
	// trusted network, such as the qemu lab's forwarded port).
	Endpoint string
	// NodeName is this node's name (the LINSTOR node name).
	NodeName string
	// LinstorEndpoint is the controller's API; empty means LS_CONTROLLERS,
	// as golinstor reads it (linstor:// is http :3370, linstor+ssl:// is
	// https :3371, client certificates from LS_USER_CERTIFICATE,
	// LS_USER_KEY and LS_ROOT_CA).
	LinstorEndpoint string
	// HealthAddr serves /healthz, which checks the controller answers; empty: none.
	HealthAddr string
	// MetricsAddr serves /metrics (Prometheus); empty: none.
	MetricsAddr string
	// Version is reported by GetPluginInfo.
	Version string
	Logger  *slog.Logger
}

// Driver is the CSI driver.
type Driver struct {
	csipb.UnimplementedIdentityServer
	csipb.UnimplementedControllerServer
	csipb.UnimplementedNodeServer

	opts    Options
	log     *slog.Logger
	lc      *lapi.Client
	metrics *metrics
	mounter *mount.SafeFormatAndMount
	// volumeLocks serialises calls on the same volume or snapshot name.
	volumeLocks keyedMutex
	// groups shares one resource group reconcile among the concurrent
	// creates of one StorageClass.
	groups singleflight.Group
}

// New checks opts and builds the driver's LINSTOR client. It makes no
// request yet.
func New(opts Options) (*Driver, error) {
	switch opts.Mode {
	case ModeController, ModeNode, ModeAll:
	default:
		return nil, fmt.Errorf("--mode: want controller, node or all, got %q", opts.Mode)
	}
	if opts.NodeName == "" && opts.Mode != ModeController {
		return nil, errors.New("--node: the node name is required in node mode")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	var copts []lapi.Option
	if opts.LinstorEndpoint != "" {
		copts = append(copts, lapi.Controllers(strings.Split(opts.LinstorEndpoint, ",")))
	}
	copts = append(copts, lapi.Log(&lapiLogger{opts.Logger}), lapi.UserAgent("piraeusctl-csi/"+opts.Version))
	lc, err := lapi.NewClient(copts...)
	if err != nil {
		return nil, fmt.Errorf("LINSTOR client: %w", err)
	}
	return &Driver{
		opts:    opts,
		log:     opts.Logger,
		lc:      lc,
		metrics: newMetrics(),
		mounter: &mount.SafeFormatAndMount{Interface: mount.New(""), Exec: utilexec.New()},
	}, nil
}

// endpoint is where the driver listens: a unix socket (the kubelet's
// and the sidecars' way) or a TCP address (as upstream CSI drivers accept:
// for a client on another machine, such as the qemu lab's host).
type endpoint struct {
	network, addr string
}

// parseEndpoint turns unix:///path (or a bare path) or tcp://host:port
// into the listener's network and address.
func parseEndpoint(ep string) (endpoint, error) {
	const want = "want unix:///path/to/csi.sock or tcp://host:port"
	if !strings.Contains(ep, "://") {
		if ep == "" {
			return endpoint{}, errors.New("--csi-endpoint: " + want)
		}
		return endpoint{"unix", ep}, nil
	}
	u, err := url.Parse(ep)
	if err != nil {
		return endpoint{}, fmt.Errorf("--csi-endpoint: %s, got %q", want, ep)
	}
	switch u.Scheme {
	case "unix":
		p := u.Path
		if u.Host != "" {
			p = u.Host + p // unix://relative/path
		}
		if p == "" {
			return endpoint{}, fmt.Errorf("--csi-endpoint: no path in %q", ep)
		}
		return endpoint{"unix", p}, nil
	case "tcp":
		if _, _, err := net.SplitHostPort(u.Host); err != nil || (u.Path != "" && u.Path != "/") {
			return endpoint{}, fmt.Errorf("--csi-endpoint: want tcp://host:port, got %q", ep)
		}
		return endpoint{"tcp", u.Host}, nil
	}
	return endpoint{}, fmt.Errorf("--csi-endpoint: %s, got %q", want, ep)
}

// listen opens the endpoint; a unix socket's folder is made and a stale
// socket removed. The returned cleanup removes the socket.
func (e endpoint) listen(ctx context.Context) (net.Listener, func(), error) {
	if e.network == "unix" {
		if err := os.MkdirAll(filepath.Dir(e.addr), 0o755); err != nil {
			return nil, nil, fmt.Errorf("socket folder: %w", err)
		}
		if err := os.Remove(e.addr); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("remove stale socket %s: %w", e.addr, err)
		}
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, e.network, e.addr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen on %s %s: %w", e.network, e.addr, err)
	}
	if e.network != "unix" {
		return ln, func() {}, nil
	}
	return ln, func() { _ = os.Remove(e.addr) }, nil
}

// Run serves the CSI services until ctx ends, then stops gracefully:
// calls in flight finish (up to a grace period), the socket is removed.
func (d *Driver) Run(ctx context.Context) error {
	ep, err := parseEndpoint(d.opts.Endpoint)
	if err != nil {
		return err
	}
	ln, removeSocket, err := ep.listen(ctx)
	if err != nil {
		return err
	}
	defer removeSocket()

	probes, err := health.Serve(ctx, d.opts.HealthAddr, d.checkController)
	if err != nil {
		ln.Close()
		return err
	}
	defer probes.Stop()
	stopMetrics, err := d.serveMetrics(ctx)
	if err != nil {
		ln.Close()
		return err
	}
	defer stopMetrics()

	srv := grpc.NewServer(grpc.UnaryInterceptor(d.intercept))
	csipb.RegisterIdentityServer(srv, d)
	if d.opts.Mode != ModeNode {
		csipb.RegisterControllerServer(srv, d)
	}
	if d.opts.Mode != ModeController {
		csipb.RegisterNodeServer(srv, d)
	}
	probes.Ready()
	d.log.Info("serving CSI", "driver", DriverName, "mode", d.opts.Mode, "endpoint", ep.network+"://"+ln.Addr().String(), "node", d.opts.NodeName,
		"linstor", d.lc.BaseURL().String())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve CSI: %w", err)
	case <-ctx.Done():
	}
	d.log.Info("stopping: finishing calls in flight")
	stopped := make(chan struct{})
	go func() { srv.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		srv.Stop()
	}
	return nil
}

// checkController asks the controller for its version: the driver's
// health is the controller answering.
func (d *Driver) checkController(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if _, err := d.lc.Controller.GetVersion(ctx); err != nil {
		return fmt.Errorf("LINSTOR controller %s: %w", d.lc.BaseURL(), err)
	}
	return nil
}

func (d *Driver) serveMetrics(ctx context.Context) (stop func(), err error) {
	if d.opts.MetricsAddr == "" {
		return func() {}, nil
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", d.opts.MetricsAddr)
	if err != nil {
		return nil, fmt.Errorf("metrics endpoint %s: %w", d.opts.MetricsAddr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(d.metrics.registry, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return func() {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(c)
	}, nil
}

// lapiLogger sends golinstor's log lines to slog at debug level.
type lapiLogger struct{ log *slog.Logger }

func (l *lapiLogger) Errorf(f string, a ...any) {
	l.log.Error(fmt.Sprintf(f, a...), "from", "golinstor")
}
func (l *lapiLogger) Warnf(f string, a ...any) { l.log.Warn(fmt.Sprintf(f, a...), "from", "golinstor") }
func (l *lapiLogger) Infof(f string, a ...any) {
	l.log.Debug(fmt.Sprintf(f, a...), "from", "golinstor")
}
func (l *lapiLogger) Debugf(f string, a ...any) {
	l.log.Debug(fmt.Sprintf(f, a...), "from", "golinstor")
}

// keyedMutex is a mutex per key: calls on one volume run one at a time.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*keyLock
}

type keyLock struct {
	sync.Mutex
	users int
}

// lock takes key's lock, waiting while ctx lasts; unlock releases it.
func (k *keyedMutex) lock(ctx context.Context, key string) (unlock func(), err error) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*keyLock{}
	}
	l := k.locks[key]
	if l == nil {
		l = &keyLock{}
		k.locks[key] = l
	}
	l.users++
	k.mu.Unlock()
	release := func() {
		k.mu.Lock()
		l.users--
		if l.users == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
	got := make(chan struct{})
	go func() { l.Lock(); close(got) }()
	select {
	case <-got:
		return func() { l.Unlock(); release() }, nil
	case <-ctx.Done():
		go func() { <-got; l.Unlock(); release() }()
		return nil, ctx.Err()
	}
}
