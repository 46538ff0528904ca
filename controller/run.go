package controller

import (
	"context"
	"errors"
	"fmt"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	"github.com/piraeusctl/piraeusctl/linstorapi"
)

// Run runs the controller until ctx ends: a controller-runtime manager with
// the caches, leader election on the Lease, health and metrics endpoints,
// and the loops of this package as a leader-only runnable.
func Run(ctx context.Context, opts Options) error { return run(ctx, opts, nil) }

// run is Run; started, when set, gets the Controller (tests and benchmarks).
func run(ctx context.Context, opts Options, started func(*Controller)) error {
	if opts.Config == nil {
		return errors.New("controller: no API server configuration")
	}
	scheme, err := Scheme()
	if err != nil {
		return err
	}
	log := opts.Logger
	mgr, err := manager.New(opts.Config, manager.Options{
		Scheme:                        scheme,
		Logger:                        logr.FromSlogHandler(log.Handler()),
		LeaderElection:                opts.LeaderElection,
		LeaderElectionID:              LeaseName,
		LeaderElectionNamespace:       opts.Namespace,
		LeaderElectionReleaseOnCancel: true,
		HealthProbeBindAddress:        opts.HealthAddr,
		Metrics:                       metricsserver.Options{BindAddress: opts.MetricsAddr},
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			// Only what the agent address needs; Node status churns.
			&corev1.Node{}: {},
		}},
	})
	if err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	if err := indexVolumes(ctx, mgr); err != nil {
		return err
	}
	// The metrics go where the manager serves them; with no metrics
	// endpoint (MetricsAddr "0"), or under a test, a registry of this run:
	// several controllers then run in one process (the lab's parallel VM
	// groups) without registering the same collectors twice.
	reg := prometheus.Registerer(ctrlmetrics.Registry)
	if started != nil || opts.MetricsAddr == "0" {
		reg = prometheus.NewRegistry()
	}
	m := newMetrics(reg)
	ctl := newController(opts, mgr.GetCache(), mgr.GetClient(), mgr.GetAPIReader(), mgr.GetEventRecorderFor(fieldManager), m)
	if err := mgr.Add(ctl); err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	if started != nil {
		started(ctl)
	}
	if opts.APIAddr != "" && opts.APIAddr != "0" {
		api := linstorapi.New(linstorapi.Options{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Namespace: opts.Namespace,
			WaitTimeout: opts.APIWaitTimeout, Logger: log})
		if err := mgr.Add(apiRunnable{api: api, informers: mgr.GetCache(), addr: opts.APIAddr, tlsDir: opts.APITLSDir}); err != nil {
			return fmt.Errorf("controller: %w", err)
		}
		if err := mgr.AddReadyzCheck("linstor-api", func(*http.Request) error { return api.Serving() }); err != nil {
			return fmt.Errorf("controller: %w", err)
		}
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	if err := mgr.AddReadyzCheck("caches", func(r *http.Request) error {
		if !mgr.GetCache().WaitForCacheSync(r.Context()) {
			return errors.New("caches not synced")
		}
		return nil
	}); err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	log.Info("starting controller", "leaderElection", opts.LeaderElection, "namespace", opts.Namespace, "resync", opts.Resync)
	return mgr.Start(ctx)
}

// apiRunnable serves the LINSTOR API on every replica, leader or not:
// writes go to the objects, the leader places and converges.
type apiRunnable struct {
	api          *linstorapi.Server
	informers    cache.Informers
	addr, tlsDir string
}

// Start serves the API; every change of a volume or snapshot in the cache
// wakes the calls waiting for one.
func (a apiRunnable) Start(ctx context.Context) error {
	notify := func(any) { a.api.Notify() }
	for _, obj := range []client.Object{&storagev1alpha1.StorageVolume{}, &storagev1alpha1.StorageSnapshot{}} {
		inf, err := a.informers.GetInformer(ctx, obj)
		if err != nil {
			return fmt.Errorf("linstor api: %w", err)
		}
		if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{AddFunc: notify, DeleteFunc: notify,
			UpdateFunc: func(_, obj any) { notify(obj) }}); err != nil {
			return fmt.Errorf("linstor api: %w", err)
		}
	}
	return a.api.Serve(ctx, a.addr, a.tlsDir)
}

func (apiRunnable) NeedLeaderElection() bool { return false }

// indexVolumes indexes StorageVolumes by every node they concern: their
// replicas in spec and in status (a replica leaving a node still concerns it).
func indexVolumes(ctx context.Context, mgr manager.Manager) error {
	err := mgr.GetFieldIndexer().IndexField(ctx, &storagev1alpha1.StorageVolume{}, volumeNodesIndex, func(o client.Object) []string {
		return volumeNodes(o.(*storagev1alpha1.StorageVolume))
	})
	if err != nil {
		return fmt.Errorf("controller: index volumes: %w", err)
	}
	return nil
}

// volumeNodes lists the nodes of a volume's spec and status replicas.
func volumeNodes(v *storagev1alpha1.StorageVolume) []string {
	seen := map[string]bool{}
	var out []string
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	for _, r := range v.Spec.Replicas {
		add(r.Node)
	}
	for _, r := range v.Status.Replicas {
		add(r.Node)
	}
	return out
}

// NeedLeaderElection makes the loops run only on the elected leader.
func (c *Controller) NeedLeaderElection() bool { return true }

// Start runs the loops (manager.Runnable) until ctx ends.
func (c *Controller) Start(ctx context.Context) error {
	c.ctx = ctx
	if err := c.watch(ctx); err != nil {
		return err
	}
	defer c.volumes.ShutDown()
	defer c.nodes.ShutDown()
	defer c.snapshots.ShutDown()
	workers := max(c.opts.Workers, 1)
	for range workers {
		go wait.UntilWithContext(ctx, func(ctx context.Context) { c.work(ctx, c.volumes, c.reconcileVolume) }, time.Second)
		go wait.UntilWithContext(ctx, func(ctx context.Context) { c.work(ctx, c.nodes, c.reconcileNode) }, time.Second)
		go wait.UntilWithContext(ctx, func(ctx context.Context) { c.work(ctx, c.snapshots, c.reconcileSnapshot) }, time.Second)
	}
	go c.placer.run(ctx)
	go wait.UntilWithContext(ctx, c.writeTopologyStatus, time.Second)
	go wait.UntilWithContext(ctx, c.resyncAll, c.resync())
	go wait.UntilWithContext(ctx, c.repairLedgers, c.opts.ReservationGrace/2+time.Second)
	c.log.Info("controller loops started", "workers", workers)
	<-ctx.Done()
	c.stopSessions()
	return nil
}

func (c *Controller) resync() time.Duration {
	if c.opts.Resync <= 0 {
		return DefaultResync
	}
	return c.opts.Resync
}

// work processes one key of a queue; reconcile returns when to look again.
func (c *Controller) work(ctx context.Context, q workqueueLike, reconcile func(context.Context, string) (time.Duration, error)) {
	for {
		key, shutdown := q.Get()
		if shutdown {
			return
		}
		after, err := reconcile(ctx, key)
		switch {
		case apierrors.IsConflict(err):
			// A newer version exists: its informer event queues the key
			// again, so this is no failure. The rate limiter (10 retries a
			// second for the whole queue) would otherwise throttle a burst
			// of thousands of volumes to a crawl.
			c.metrics.conflicts.Inc()
			q.Forget(key)
			q.AddAfter(key, conflictRequeue)
		case err != nil && ctx.Err() == nil:
			c.log.Warn("reconcile failed; retrying", "key", key, "err", err)
			q.AddRateLimited(key)
		default:
			q.Forget(key)
			if after > 0 {
				q.AddAfter(key, after)
			}
		}
		q.Done(key)
	}
}

// workqueueLike is the part of a typed workqueue work needs.
type workqueueLike interface {
	Get() (string, bool)
	Done(string)
	Forget(string)
	AddRateLimited(string)
	AddAfter(string, time.Duration)
}

// watch routes informer events into the queues.
func (c *Controller) watch(ctx context.Context) error {
	type target struct {
		obj client.Object
		h   toolscache.ResourceEventHandler
	}
	volHandler := toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { c.volumeEvent(nil, o) },
		UpdateFunc: func(old, o any) { c.volumeEvent(old, o) },
		DeleteFunc: func(o any) { c.volumeEvent(nil, o) },
	}
	topoHandler := toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.topologyChanged() },
		UpdateFunc: func(old, o any) { c.topologyUpdated(old, o) },
		DeleteFunc: func(any) { c.topologyChanged() },
	}
	snapHandler := toolscache.ResourceEventHandlerFuncs{
		AddFunc:    c.snapshotEvent,
		UpdateFunc: func(_, o any) { c.snapshotEvent(o) },
		DeleteFunc: c.snapshotEvent,
	}
	nodeHandler := toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { c.kubeNodeEvent(nil, o) },
		UpdateFunc: func(old, o any) { c.kubeNodeEvent(old, o) },
	}
	for _, t := range []target{
		{&storagev1alpha1.StorageVolume{}, volHandler},
		{&storagev1alpha1.StorageTopology{}, topoHandler},
		{&storagev1alpha1.StorageSnapshot{}, snapHandler},
		{&corev1.Node{}, nodeHandler},
		{&storagev1alpha1.NodeAllocation{}, toolscache.ResourceEventHandlerFuncs{}},
	} {
		inf, err := c.informers.GetInformer(ctx, t.obj)
		if err != nil {
			return fmt.Errorf("controller: informer %T: %w", t.obj, err)
		}
		if _, err := inf.AddEventHandler(t.h); err != nil {
			return fmt.Errorf("controller: informer %T: %w", t.obj, err)
		}
	}
	if !c.informers.WaitForCacheSync(ctx) {
		return errors.New("controller: caches did not sync")
	}
	return nil
}
