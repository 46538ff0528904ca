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

	"github.com/piraeusctl/piraeusctl/internal/localup"
)

func main() {
	var opts localup.Options
	flag.StringVar(&opts.Dir, "dir", "/tmp/piraeusctl-local", "folder for everything local-up creates (removed at exit)")
	flag.StringVar(&opts.Binary, "binary", "bin/piraeusctl", "piraeusctl binary to run the components with")
	flag.IntVar(&opts.Nodes, "nodes", 3, "number of local nodes")
	flag.BoolVar(&opts.Converge, "converge", true, "run the operator's converge loop (false: the webhook only)")
	flag.Parse()
	opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
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
