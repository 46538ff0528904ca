package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/piraeusctl/piraeusctl/csi"
)

// csiFlags are the flags of `piraeusctl csi`.
type csiFlags struct {
	opts csi.Options
	log  logFlags
}

func newCSICommand() *cobra.Command {
	f := &csiFlags{opts: csi.Options{Mode: csi.ModeAll}}
	cmd := &cobra.Command{
		Use:   "csi",
		Short: "Run the CSI driver linstor.csi.linbit.com (linstor-csi controller and node services)",
		Long: `csi serves the CSI driver linstor.csi.linbit.com on a unix socket (or tcp://host:port): the
controller service (volumes, snapshots, capacity; --mode=controller), the node
service (staging, mounting, stats; --mode=node, as root) or both (--mode=all).
It talks to the storage controller only through LINSTOR's REST API v1 (golinstor),
at --linstor-endpoint or LS_CONTROLLERS (linstor:// is http on :3370,
linstor+ssl:// https on :3371 with the client certificate of
LS_USER_CERTIFICATE, LS_USER_KEY and LS_ROOT_CA), so it reads the same
StorageClass parameters as stock linstor-csi and publishes the same topology keys.

SIGTERM stops it gracefully: calls in flight finish, the socket is removed.`,
		Example: `  # as the linstor-csi-controller Deployment runs it
  piraeusctl csi --mode=controller --csi-endpoint=unix:///csi/csi.sock --node=$(KUBE_NODE_NAME)

  # against hack/local-up.sh's controller, both services on one socket
  piraeusctl csi --mode=all --csi-endpoint=unix:///tmp/csi.sock --node=local-1 \
    --linstor-endpoint=http://127.0.0.1:3370 --health-addr=127.0.0.1:9808`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts := f.opts
			opts.Logger, opts.Version = f.log.logger(cmd), version
			d, err := csi.New(opts)
			if err != nil {
				return err
			}
			return d.Run(cmd.Context())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.opts.Mode, "mode", f.opts.Mode, "services to serve: controller, node or all")
	fl.StringVar(&f.opts.Endpoint, "csi-endpoint", "unix:///csi/csi.sock", "where to serve CSI: unix:///path, or tcp://host:port for a client on another machine (no TLS)")
	fl.StringVar(&f.opts.NodeName, "node", os.Getenv("KUBE_NODE_NAME"), "this node's name (default $KUBE_NODE_NAME)")
	fl.StringVar(&f.opts.LinstorEndpoint, "linstor-endpoint", "", "the controller's LINSTOR API, comma-separated URLs (default $LS_CONTROLLERS)")
	fl.StringVar(&f.opts.HealthAddr, "health-addr", "", "address of /healthz, which checks the LINSTOR controller answers (empty: none; in a Pod the livenessprobe sidecar holds :9808 and asks Probe, which checks the same)")
	fl.StringVar(&f.opts.MetricsAddr, "metrics-addr", "", "address of /metrics: latency and errors per CSI call (empty: none)")
	f.log.register(cmd, "debug, info, warn, error")
	return cmd
}
