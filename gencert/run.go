package gencert

import (
	"context"
	"fmt"
	"os"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/piraeusctl/piraeusctl/internal/health"
)

// RunOptions configure `piraeusctl gencert`.
type RunOptions struct {
	Options
	// Once does a single pass and returns.
	Once bool
	// LeaderElect runs the loop only while holding the Lease LeaseName.
	LeaderElect bool
	// LeaseName is the coordination.k8s.io Lease in Namespace.
	LeaseName string
	// Identity of this replica in the Lease (default: the host name).
	Identity string
	// Resync is the longest time between two passes.
	Resync time.Duration
	// RetryAfter is the wait after a failed pass.
	RetryAfter time.Duration
	// HealthAddr serves /healthz and /readyz ("" for none).
	HealthAddr string
}

// DefaultRunOptions: a loop with leader election, looking at least every
// ten minutes, health on :8081.
func DefaultRunOptions() RunOptions {
	return RunOptions{
		Options:     DefaultOptions(),
		LeaderElect: true,
		LeaseName:   "piraeus-operator-gencert",
		Resync:      10 * time.Minute,
		RetryAfter:  5 * time.Second,
		HealthAddr:  ":8081",
	}
}

// minWait keeps a loop whose next step is already due from spinning.
const minWait = 100 * time.Millisecond

// Run keeps the certificates current until ctx ends (or does one
// pass with Once).
func Run(ctx context.Context, cfg *rest.Config, opts RunOptions) error {
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	g, err := New(client, opts.Options)
	if err != nil {
		return err
	}
	if opts.Once {
		_, err := g.Pass(ctx)
		return err
	}
	probes, err := health.Serve(ctx, opts.HealthAddr)
	if err != nil {
		return err
	}
	defer probes.Stop()
	probes.Ready() // standby replicas are healthy too
	if !opts.LeaderElect {
		return g.loop(ctx, opts)
	}
	return g.leaderLoop(ctx, client, opts)
}

// loop runs passes until ctx ends, each when the last one said something
// is due, a satellite DaemonSet came, went or changed, or after Resync.
func (g *Gencert) loop(ctx context.Context, opts RunOptions) error {
	satellitesChanged, err := g.watchSatellites(ctx)
	if err != nil {
		return err
	}
	for {
		wait := opts.Resync
		res, err := g.Pass(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			g.opts.Logger.Error("gencert pass failed; retrying", "err", err, "retry", opts.RetryAfter)
			wait = opts.RetryAfter
		default:
			if d := res.Next.Sub(g.opts.Now()); d < wait {
				wait = max(d, minWait)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		case <-satellitesChanged:
		}
	}
}

// leaderLoop runs the loop while holding the Lease.
func (g *Gencert) leaderLoop(ctx context.Context, client kubernetes.Interface, opts RunOptions) error {
	id := opts.Identity
	if id == "" {
		host, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("leader election identity: %w", err)
		}
		id = host
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: opts.Namespace, Name: opts.LeaseName},
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: id},
	}
	var loopErr error
	lost := false
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   15 * time.Second,
		RenewDeadline:   10 * time.Second,
		RetryPeriod:     2 * time.Second,
		ReleaseOnCancel: true,
		Name:            opts.LeaseName,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				g.opts.Logger.Info("leading", "lease", opts.Namespace+"/"+opts.LeaseName, "identity", id)
				loopErr = g.loop(ctx, opts)
			},
			OnStoppedLeading: func() { lost = ctx.Err() == nil },
		},
	})
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	le.Run(ctx)
	if lost {
		return errNotLeader
	}
	return loopErr
}
