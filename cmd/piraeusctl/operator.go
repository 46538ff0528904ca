package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/piraeusctl/piraeusctl/webhook"
)

// operatorFlags are the flags of `piraeusctl operator`.
type operatorFlags struct {
	opts webhook.ServerOptions
	kube kubeFlags
	log  logFlags
}

func newOperatorCommand() *cobra.Command {
	f := &operatorFlags{opts: webhook.DefaultServerOptions()}
	cmd := &cobra.Command{
		Use:   "operator",
		Short: "Serve the validating webhook for the piraeus.io and storage.piraeus.io kinds",
		Long: `operator serves the validating webhook over HTTPS with the certificate that
gencert keeps in the Secret webhook-server-cert (mounted in --cert-dir, reloaded
when it changes). It checks LinstorCluster, LinstorSatelliteConfiguration,
LinstorNodeConnection and StorageTopology with the same code as 'piraeusctl
plan', so a denial shows the field path and message plan prints, and it refuses
updates that would lose data or break running storage (changing a storage
pool's backend or devices, removing a pool that still holds replicas, moving a
volume's DRBD port, minor or node ids, dropping a volume still in use).`,
		Example: `  # as the piraeus-operator Deployment runs it
  piraeusctl operator --cert-dir /tmp/k8s-webhook-server/serving-certs`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
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
			opts.Namespace = os.Getenv("POD_NAMESPACE") // set in the operator's Pod
			return webhook.Serve(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	f.kube.register(cmd, false)
	fl.StringVar(&f.opts.Addr, "webhook-addr", f.opts.Addr, "HTTPS listen address of the webhook")
	fl.StringVar(&f.opts.CertDir, "cert-dir", f.opts.CertDir, "directory with tls.crt and tls.key (the mounted Secret webhook-server-cert)")
	fl.DurationVar(&f.opts.CertWatchInterval, "cert-watch-interval", f.opts.CertWatchInterval, "how often the certificate files are re-read besides file change events")
	fl.StringVar(&f.opts.HealthAddr, "health-addr", f.opts.HealthAddr, "address of /healthz and /readyz (empty: none)")
	f.log.register(cmd, "debug, info, warn, error")
	return cmd
}
