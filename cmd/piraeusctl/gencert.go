package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/piraeusctl/piraeusctl/gencert"
)

// gencertFlags are the flags of `piraeusctl gencert`.
type gencertFlags struct {
	opts gencert.RunOptions
	kube kubeFlags
	log  logFlags
}

func newGencertCommand() *cobra.Command {
	f := &gencertFlags{opts: gencert.DefaultRunOptions()}
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		f.opts.Namespace = ns
	}
	f.opts.Identity = os.Getenv("POD_NAME")
	cmd := &cobra.Command{
		Use:   "gencert",
		Short: "Keep the webhook's and the internal TLS certificates current",
		Long: `gencert keeps the kubernetes.io/tls Secret of the validating webhook (tls.crt,
tls.key, ca.crt and the CA key ca.key) and the caBundle of every webhook in the
ValidatingWebhookConfiguration current: it creates a private CA and a serving
certificate for the webhook Service's DNS names, renews them before they
expire or when the names change, and rotates the CA in three steps (new CA
trusted next to the old one, then the serving certificate moves to it, then
the old CA is dropped) so that no admission request fails.

With --internal-tls (the default) it also keeps the internal TLS between the
controller and the agents: an internal CA (Opaque Secret --internal-ca-secret,
mounted by no Pod), the controller's client certificate (--internal-controller-secret)
and one serving certificate per satellite DaemonSet (the Secret its Pod
mounts as the volume internal-tls, naming the node of its
storage.piraeus.io/node annotation). Each satellite's Secret is owned by its
DaemonSet, so it goes when the satellite goes. The internal CA rotates in
the same three steps, with both CAs in every ca.crt while certificates move.
A Secret of that name that gencert did not create is left alone.

It runs as a loop with leader election (a Lease); --once does one pass and
exits. A pass with nothing to do writes nothing. Private keys are kept only
in the Secret.`,
		Example: `  # one pass against the current kubeconfig context
  piraeusctl gencert --once --namespace piraeus-datastore

  # as the piraeus-operator-gencert Deployment runs it
  piraeusctl gencert --namespace=$(POD_NAMESPACE) --secret-name=webhook-server-cert \
    --webhook-config-name=piraeus-operator-validating-webhook-configuration \
    --webhook-service-name=piraeus-operator-webhook-service`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.kube.restConfig()
			if err != nil {
				return err
			}
			opts := f.opts
			opts.Logger = f.log.logger(cmd)
			return gencert.Run(cmd.Context(), cfg, opts)
		},
	}
	fl := cmd.Flags()
	f.kube.register(cmd, false)
	fl.StringVarP(&f.opts.Namespace, "namespace", "n", f.opts.Namespace, "namespace of the Secret, the Service and the Lease (default $POD_NAMESPACE, set by the Downward API)")
	fl.StringVar(&f.opts.SecretName, "secret-name", f.opts.SecretName, "kubernetes.io/tls Secret holding the CA and the serving certificate")
	fl.StringVar(&f.opts.WebhookConfigName, "webhook-config-name", f.opts.WebhookConfigName, "ValidatingWebhookConfiguration whose caBundle is kept current")
	fl.StringVar(&f.opts.ServiceName, "webhook-service-name", f.opts.ServiceName, "webhook Service; the certificate covers svc, svc.ns, svc.ns.svc and svc.ns.svc.cluster.local")
	fl.StringSliceVar(&f.opts.ExtraSANs, "extra-san", nil, "more DNS names or IP addresses for the serving certificate (e.g. 127.0.0.1 for a webhook called by URL in tests)")
	fl.DurationVar(&f.opts.Policy.CAValidity, "ca-validity", f.opts.Policy.CAValidity, "lifetime of a new CA")
	fl.DurationVar(&f.opts.Policy.CARenewBefore, "ca-renew-before", f.opts.Policy.CARenewBefore, "start a CA rotation when the CA has less than this left")
	fl.DurationVar(&f.opts.Policy.CertValidity, "cert-validity", f.opts.Policy.CertValidity, "lifetime of a new serving certificate")
	fl.DurationVar(&f.opts.Policy.CertRenewBefore, "renew-before", f.opts.Policy.CertRenewBefore, "reissue the serving certificate when it has less than this left")
	fl.DurationVar(&f.opts.Policy.Grace, "rotation-grace", f.opts.Policy.Grace, "time between the steps of a CA rotation (API server sees the bundle, kubelet refreshes the mounted Secret)")
	fl.BoolVar(&f.opts.Internal.Enabled, "internal-tls", f.opts.Internal.Enabled, "also keep the internal CA and the controller's and satellites' certificates")
	fl.StringVar(&f.opts.Internal.CASecretName, "internal-ca-secret", f.opts.Internal.CASecretName, "Opaque Secret holding the internal CA bundle and key")
	fl.StringVar(&f.opts.Internal.ControllerSecretName, "internal-controller-secret", f.opts.Internal.ControllerSecretName, "kubernetes.io/tls Secret of the controller's client certificate for the agents (empty: the user or cert-manager provides it)")
	fl.StringVar(&f.opts.Internal.SatelliteSelector, "satellite-selector", f.opts.Internal.SatelliteSelector, "label selector of the satellite DaemonSets in the namespace")
	fl.BoolVar(&f.opts.Once, "once", false, "do one pass and exit (for Jobs, scripts and tests)")
	fl.BoolVar(&f.opts.LeaderElect, "leader-elect", f.opts.LeaderElect, "run the loop only while holding the Lease --lease-name")
	fl.StringVar(&f.opts.LeaseName, "lease-name", f.opts.LeaseName, "Lease used for leader election")
	fl.DurationVar(&f.opts.Resync, "resync", f.opts.Resync, "longest time between two passes")
	fl.StringVar(&f.opts.HealthAddr, "health-addr", f.opts.HealthAddr, "address of /healthz and /readyz (empty: none)")
	f.log.register(cmd, "debug, info, warn, error")
	return cmd
}
