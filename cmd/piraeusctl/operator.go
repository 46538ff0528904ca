package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/piraeusctl/piraeusctl/operator"
	"github.com/piraeusctl/piraeusctl/plan"
	"github.com/piraeusctl/piraeusctl/webhook"
)

// operatorFlags are the flags of `piraeusctl operator`.
type operatorFlags struct {
	opts        webhook.ServerOptions
	loop        operator.Options
	spec        specFlags // --image and --templates, as plan takes them
	converge    bool
	leaderElect bool
	drift       string
	kube        kubeFlags
	log         logFlags
}

func newOperatorCommand() *cobra.Command {
	f := &operatorFlags{opts: webhook.DefaultServerOptions(), loop: operator.DefaultOptions(), converge: true, leaderElect: true}
	cmd := &cobra.Command{
		Use:   "operator",
		Short: "Keep the cluster converged to the plan of its own inputs, and serve the validating webhook",
		Long: `operator is piraeus-operator. Under leader election (Lease piraeus-operator)
one replica runs the converge loop: it watches LinstorCluster,
LinstorSatelliteConfiguration, LinstorNodeConnection, Nodes, StorageClasses,
claims and the storage state, and after changes (debounced) and at every
resync plans them exactly as 'piraeusctl plan --from-cluster' does and applies
the plan as 'piraeusctl apply --prune' does, with field manager
piraeus-operator. An unchanged plan costs no write. Drift (an edited
DaemonSet, a deleted Service) is put back, with an Event naming the fields;
with --drift=report the loop never writes a managed object and only reports
drift in status and Events, for teams whose only writer is git. A plan that
does not validate is not applied at all: the error goes to the LinstorCluster's
Applied condition, the objects' own conditions and an Event, and the last good
state stays. The loop writes the conditions Piraeus users read: LinstorCluster
Applied/Available/Configured, LinstorSatelliteConfiguration Applied,
LinstorNodeConnection Configured and each node's LinstorSatellite
Applied/Available/Configured.

Every replica serves the validating webhook over HTTPS with the certificate that
gencert keeps in the Secret webhook-server-cert (mounted in --cert-dir, reloaded
when it changes). It checks LinstorCluster, LinstorSatelliteConfiguration,
LinstorNodeConnection and StorageTopology with the same code as 'piraeusctl
plan', so a denial shows the field path and message plan prints, and it refuses
updates that would lose data or break running storage (changing a storage
pool's backend or devices, removing a pool that still holds replicas, moving a
volume's DRBD port, minor or node ids, dropping a volume still in use).`,
		Example: `  # as the piraeus-operator Deployment runs it
  piraeusctl operator --cert-dir /tmp/k8s-webhook-server/serving-certs

  # only report drift: git (Argo CD, Flux) is the only writer
  piraeusctl operator --drift=report`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return f.run(cmd) },
	}
	fl := cmd.Flags()
	f.kube.register(cmd, false)
	fl.StringVarP(&f.loop.Namespace, "namespace", "n", envOr("POD_NAMESPACE", plan.DefaultNamespace), "namespace of the datastore, its ApplySet and the Lease (default $POD_NAMESPACE)")
	fl.StringVar(&f.opts.Addr, "webhook-addr", f.opts.Addr, "HTTPS listen address of the webhook")
	fl.StringVar(&f.opts.CertDir, "cert-dir", f.opts.CertDir, "directory with tls.crt and tls.key (the mounted Secret webhook-server-cert)")
	fl.DurationVar(&f.opts.CertWatchInterval, "cert-watch-interval", f.opts.CertWatchInterval, "how often the certificate files are re-read besides file change events")
	fl.StringVar(&f.opts.HealthAddr, "health-addr", f.opts.HealthAddr, "address of /healthz and /readyz (empty: none)")
	fl.BoolVar(&f.converge, "converge", f.converge, "run the converge loop (false: serve the webhook only)")
	fl.BoolVar(&f.leaderElect, "leader-elect", f.leaderElect, "converge only while holding the Lease "+operator.LeaseName)
	fl.StringVar(&f.drift, "drift", string(f.loop.Drift), "what to do with drift: correct (apply the plan) or report (never write managed objects)")
	fl.DurationVar(&f.loop.Debounce, "debounce", f.loop.Debounce, "quiet time after an input change before a pass")
	fl.DurationVar(&f.loop.Resync, "resync", f.loop.Resync, "time between passes when nothing changes")
	fl.StringVar(&f.spec.templatesDir, "templates", "", "directory of Jsonnet templates searched before the embedded ones")
	fl.StringArrayVar(&f.spec.images, "image", nil, "override an image, NAME=REF (as plan --image); repeatable")
	f.log.register(cmd, "debug, info, warn, error")
	_ = cmd.RegisterFlagCompletionFunc("drift", cobra.FixedCompletions([]string{"correct", "report"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func (f *operatorFlags) run(cmd *cobra.Command) error {
	logger := f.log.controllerRuntimeLogger(cmd)
	cfg, err := f.kube.restConfig()
	if err != nil {
		return err
	}
	live, err := webhook.NewClusterLive(cfg)
	if err != nil {
		return err
	}
	opts := f.opts
	opts.Live, opts.Inputs, opts.Logger = live, live, logger
	opts.Namespace = f.loop.Namespace
	g, ctx := errgroup.WithContext(cmd.Context())
	g.Go(func() error { return webhook.Serve(ctx, opts) })
	if f.converge {
		loop, elect, err := f.newLoop(cfg, logger)
		if err != nil {
			return err
		}
		g.Go(func() error { return runLoop(ctx, loop, elect, f.leaderElect) })
	}
	return g.Wait()
}

// newLoop configures the converge loop as `plan --from-cluster` and
// `apply --prune` are configured.
func (f *operatorFlags) newLoop(cfg *rest.Config, logger *slog.Logger) (*operator.Loop, operator.Election, error) {
	o := f.loop
	o.Drift = operator.DriftMode(f.drift)
	if err := o.Drift.Validate(); err != nil {
		return nil, operator.Election{}, fmt.Errorf("--drift: %w", err)
	}
	pipe, err := f.spec.renderOptions(false)
	if err != nil {
		return nil, operator.Election{}, err
	}
	pipe.Build.Namespace = o.Namespace
	o.Config, o.Pipeline, o.Logger = cfg, pipe, logger.With("component", "converge")
	loop, err := operator.New(o)
	if err != nil {
		return nil, operator.Election{}, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, operator.Election{}, err
	}
	id := envOr("POD_NAME", "")
	if id == "" {
		host, _ := os.Hostname()
		id = host + "-" + rand.String(5)
	}
	return loop, operator.Election{Client: cs, Namespace: o.Namespace, Identity: id}, nil
}

func runLoop(ctx context.Context, loop *operator.Loop, e operator.Election, elect bool) error {
	if !elect {
		return loop.Run(ctx)
	}
	return loop.RunElected(ctx, e)
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}
