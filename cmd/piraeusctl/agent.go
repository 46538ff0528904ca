package main

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/piraeusctl/piraeusctl/agent"
)

// agentFlags are the flags of `piraeusctl agent`.
type agentFlags struct {
	opts   agent.Options
	tlsDir string
	log    logFlags
}

func newAgentCommand() *cobra.Command {
	f := &agentFlags{opts: agent.DefaultOptions()}
	f.opts.NodeName = os.Getenv("NODE_NAME")
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the node agent (LINSTOR satellite): converge this node's storage pools and DRBD resources",
		Long: `The node agent serves the controller over gRPC with mandatory mutual TLS and
converges this host to the desired state it is told: storage pools (LVM,
LVM thin, file, thin file), backing volumes and DRBD resources. It keeps no
state of its own and deletes storage only when told to delete that exact
resource.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts := f.toOptions()
			if opts.DRBDSimResyncTime != 0 && opts.DRBDSimDir == "" {
				return errors.New("--drbd-sim-resync-time needs --drbd-sim-dir")
			}
			opts.Logger = f.log.logger(cmd)
			return agent.Run(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.opts.Listen, "listen", f.opts.Listen, "gRPC listen address")
	fl.StringVar(&f.opts.NodeName, "node-name", f.opts.NodeName, "Kubernetes node name (default $NODE_NAME, set by the Downward API)")
	fl.StringVar(&f.tlsDir, "tls-dir", "", "directory with tls.crt, tls.key and ca.crt (a kubernetes.io/tls Secret)")
	fl.StringVar(&f.opts.TLS.Cert, "tls-cert", "", "agent certificate (PEM)")
	fl.StringVar(&f.opts.TLS.Key, "tls-key", "", "agent private key (PEM)")
	fl.StringVar(&f.opts.TLS.CA, "tls-ca", "", "cluster CA that signs accepted client certificates (PEM)")
	fl.StringVar(&f.opts.ConfigDir, "drbd-config-dir", f.opts.ConfigDir, "directory for the DRBD resource files")
	fl.IntVar(&f.opts.Workers, "workers", f.opts.Workers, "how many resources converge at once")
	f.log.register(cmd, "debug (also logs every host command), info, warn, error")
	fl.DurationVar(&f.opts.CommandTimeout, "command-timeout", f.opts.CommandTimeout, "timeout of each host command")
	fl.StringVar(&f.opts.DRBDSimDir, "drbd-sim-dir", "", "test and local-datastore mode: simulate DRBD (no kernel module needed) with state in this directory, "+
		"shared by the local agents; storage commands still run for real and every drbdadm command is still checked by the real drbdadm")
	fl.DurationVar(&f.opts.DRBDSimResyncTime, "drbd-sim-resync-time", 0, "with --drbd-sim-dir: how long a simulated full resync takes (0: instant)")
	return cmd
}

// toOptions fills the TLS files from --tls-dir where not given one by one.
func (f *agentFlags) toOptions() agent.Options {
	o := f.opts
	if f.tlsDir != "" {
		for dst, name := range map[*string]string{&o.TLS.Cert: "tls.crt", &o.TLS.Key: "tls.key", &o.TLS.CA: "ca.crt"} {
			if *dst == "" {
				*dst = filepath.Join(f.tlsDir, name)
			}
		}
	}
	return o
}
