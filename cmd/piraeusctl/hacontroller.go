package main

import (
	"errors"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/piraeusctl/piraeusctl/hacontroller"
)

// haControllerFlags are the flags of `piraeusctl ha-controller`: upstream
// piraeus-ha-controller's, plus --events2-file for machines without DRBD.
type haControllerFlags struct {
	opts    hacontroller.ServeOptions
	kube    kubeFlags
	log     logFlags
	verbose int
	unused  time.Duration
}

func newHAControllerCommand() *cobra.Command {
	f := &haControllerFlags{opts: hacontroller.DefaultServeOptions()}
	f.opts.NodeName = os.Getenv("NODE_NAME")
	cmd := &cobra.Command{
		Use:   "ha-controller",
		Short: "Fail Pods over from a node whose DRBD storage is lost, driven by drbdsetup events2",
		Long: `ha-controller runs on every node (our piraeus-ha-controller). It follows
'drbdsetup events2 --timestamps' (DRBD 9 and 8.4) and never polls. When a peer
node has been lost for --fail-over-timeout while this node keeps quorum on a
resource with a quorum policy, and a Pod of that volume runs there or a
VolumeAttachment names it, it taints the lost node drbd.linbit.com/lost-quorum,
evicts the node's Pods of the volume (a grace-0 delete once the Node is
NotReady) and deletes its VolumeAttachment, recording Events with upstream's
reasons. On its own node it taints drbd.linbit.com/lost-quorum and
drbd.linbit.com/force-io-error, evicts local Pods of a volume forcing I/O
errors and force-demotes a suspended Primary whose Pods are stuck terminating.

DRBD connection names are Kubernetes node names (the agent names them so);
a connection that names no Node is logged and left alone. Pods annotated
drbd.linbit.com/ignore-fail-over, Pods without owner and Pods with volumes
of unknown safety are left alone.`,
		Example: `  # as the ha-controller DaemonSet runs it
  piraeusctl ha-controller --node-name=$(NODE_NAME) --health-bind-address=:8082

  # on a machine without DRBD: replay an events2 capture (or feed a FIFO)
  piraeusctl ha-controller --kubeconfig kubeconfig --node-name node-b \
    --events2-file events2.txt --drbd-show-file show.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("v") && f.verbose >= 2 {
				f.log.level = slog.LevelDebug
			}
			logger := f.log.logger(cmd)
			if f.opts.NodeName == "" {
				return errNoNodeName
			}
			cfg, err := f.kube.restConfig()
			if err != nil {
				return err
			}
			opts := f.opts
			opts.RestConfig, opts.Logger = cfg, logger
			return hacontroller.Serve(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	f.kube.register(cmd, false)
	o := &f.opts
	fl.StringVar(&o.NodeName, "node-name", o.NodeName, "the name of the node this runs on (default $NODE_NAME, set by the Downward API)")
	fl.DurationVar(&o.FailOverTimeout, "fail-over-timeout", o.FailOverTimeout, "how long a peer must be lost before its Pods are failed over")
	fl.Int64Var(&o.GracePeriodSeconds, "grace-period-seconds", o.GracePeriodSeconds, "grace period of Pod evictions, in seconds (deletes on NotReady nodes use 0)")
	fl.DurationVar(&o.OperationTimeout, "operations-timeout", o.OperationTimeout, "timeout of each API request and host command")
	fl.DurationVar(&o.ResyncInterval, "resync-interval", o.ResyncInterval, "how often the informers' caches are resynchronised")
	fl.StringVar(&o.HealthAddr, "health-bind-address", o.HealthAddr, "address of /healthz and /metrics (empty: none)")
	fl.BoolVar(&o.FailOverUnsafePods, "fail-over-unsafe-pods", false, "also fail over Pods with volumes of unknown fail-over safety (hostPath, NFS, ...)")
	fl.BoolVar(&o.DisableNodeTaints, "disable-node-taints", false, "never taint or untaint nodes")
	fl.StringVar(&o.Events2File, "events2-file", "", "read events2 from this file or FIFO instead of running drbdsetup (machines without DRBD); host commands are then recorded, not run")
	fl.StringVar(&o.ShowFile, "drbd-show-file", "", "with --events2-file: 'drbdsetup show --json' output giving the resources' quorum policies")
	f.log.register(cmd, "debug, info, warn, error")
	// Upstream's polling flags: accepted so existing pod templates keep
	// working, but events2 replaces polling.
	fl.DurationVar(&f.unused, "drbd-status-interval", 5*time.Second, "")
	fl.DurationVar(&f.unused, "reconcile-interval", 5*time.Second, "")
	fl.IntVar(&f.verbose, "v", 0, "upstream's log verbosity: 2 or more means --log-level=debug")
	for _, name := range []string{"drbd-status-interval", "reconcile-interval"} {
		_ = fl.MarkDeprecated(name, "ha-controller follows drbdsetup events2 and does not poll; the flag has no effect")
	}
	_ = fl.MarkHidden("v")
	return cmd
}

var errNoNodeName = errors.New("ha-controller: --node-name (or NODE_NAME) is required")
