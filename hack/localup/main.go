// Command local-up runs the local datastore (internal/localup) in the
// foreground until SIGINT or SIGTERM, then tears it down. hack/local-up.sh
// starts it in the background and stops it again.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/piraeusctl/piraeusctl/internal/k8spath"
	"github.com/piraeusctl/piraeusctl/internal/localup"
)

func main() {
	var opts localup.Options
	flag.StringVar(&opts.Dir, "dir", "/tmp/piraeusctl-local", "folder for everything local-up creates (removed at exit)")
	flag.StringVar(&opts.Binary, "binary", "bin/piraeusctl", "piraeusctl binary to run the components with")
	flag.IntVar(&opts.Nodes, "nodes", 3, "number of local nodes")
	flag.BoolVar(&opts.Converge, "converge", true, "run the operator's converge loop (false: the webhook only)")
	kube := flag.Bool("kubernetes", false, "also run the Kubernetes side of the CSI driver (internal/k8spath): kube-controller-manager, snapshot-controller, the CSI sidecars of hack/csi-sidecars.sh and a kubelet stand-in")
	flag.Parse()
	opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	if *kube {
		opts.Addons = append(opts.Addons, k8spath.Addon(k8spath.Options{Logger: opts.Logger}))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env, err := localup.Up(ctx, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	opts.Logger.Info("local datastore up", "env", env.EnvFile())
	<-ctx.Done()
	opts.Logger.Info("stopping the local datastore")
	env.Down()
}
