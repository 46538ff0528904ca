package main

import (
	"github.com/spf13/cobra"

	"github.com/piraeusctl/piraeusctl/controller"
	"github.com/piraeusctl/piraeusctl/linstorapi"
	"github.com/piraeusctl/piraeusctl/plan"
)

// controllerFlags are the flags of `piraeusctl controller`.
type controllerFlags struct {
	opts controller.Options
	kube kubeFlags
	log  logFlags
}

func newControllerCommand() *cobra.Command {
	f := &controllerFlags{opts: controller.DefaultOptions()}
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "Run the storage controller (linstor-controller): turn StorageVolumes into storage through the node agents",
		Long: `controller keeps the storage of every StorageVolume converged. Under leader
election (Lease linstor-controller), it places volumes that have no replicas
with the planner's code, reserves their DRBD ports and minors per node in the
NodeAllocation ledgers, tells every node's agent its complete desired state over
gRPC with mutual TLS, and writes what the agents report into each volume's
status (Ready, Degraded, per replica) and the pools' capacity into the
StorageTopology status. It deletes storage only for a StorageVolume deleted by
name, with its uid.`,
		Example: `  # as the linstor-controller Deployment runs it
  piraeusctl controller --namespace piraeus-datastore --internal-tls-dir /etc/linstor/ssl

  # a second controller without leader election (allocations stay unique)
  piraeusctl controller --leader-elect=false --kubeconfig ~/.kube/config --internal-tls-dir certs/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger := f.log.controllerRuntimeLogger(cmd)
			cfg, err := f.kube.restConfig()
			if err != nil {
				return err
			}
			opts := f.opts
			opts.Config, opts.Logger = cfg, logger
			if opts.APIAddr == "" {
				opts.APIAddr = linstorapi.DefaultAddr
				if opts.APITLSDir != "" {
					opts.APIAddr = linstorapi.DefaultTLSAddr
				}
			}
			return controller.Run(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	f.kube.register(cmd, false)
	fl.StringVarP(&f.opts.Namespace, "namespace", "n", plan.DefaultNamespace, "namespace of the leader-election Lease")
	fl.BoolVar(&f.opts.LeaderElection, "leader-elect", f.opts.LeaderElection, "act only while holding the Lease "+controller.LeaseName)
	fl.StringVar(&f.opts.AgentTLS.Dir, "internal-tls-dir", "/etc/linstor/ssl", "directory with the controller's client certificate for the agents (tls.crt, tls.key, ca.crt)")
	fl.IntVar(&f.opts.AgentPort, "agent-port", f.opts.AgentPort, "port of the node agents (a Node's "+controller.AgentAddressAnnotation+" annotation overrides the whole address)")
	fl.DurationVar(&f.opts.Resync, "resync", f.opts.Resync, "how often every node is told its desired state again and every status recomputed")
	fl.DurationVar(&f.opts.ApplyTimeout, "apply-timeout", f.opts.ApplyTimeout, "timeout of one Apply call to an agent")
	fl.IntVar(&f.opts.Workers, "workers", f.opts.Workers, "workers per queue (volumes, nodes)")
	fl.StringVar(&f.opts.HealthAddr, "health-addr", f.opts.HealthAddr, "address of /healthz and /readyz")
	fl.StringVar(&f.opts.MetricsAddr, "metrics-addr", f.opts.MetricsAddr, `address of /metrics ("0" disables)`)
	fl.DurationVar(&f.opts.ReservationGrace, "reservation-grace", f.opts.ReservationGrace, "how long a DRBD number reservation may wait for its volume to record it before it is released")
	fl.StringVar(&f.opts.APIAddr, "api-addr", "", `address of LINSTOR's REST API v1 ("0" disables; default :3370, or :3371 with --api-tls-dir)`)
	fl.StringVar(&f.opts.APITLSDir, "api-tls-dir", "", "directory with the API's serving certificate and the clients' CA (tls.crt, tls.key, ca.crt: the apiTLS Secret); the API then requires client certificates")
	fl.DurationVar(&f.opts.APIWaitTimeout, "api-wait-timeout", f.opts.APIWaitTimeout, "how long an API call that creates or places a resource waits for it to be deployed with its device path")
	f.log.register(cmd, "debug, info, warn, error")
	return cmd
}
