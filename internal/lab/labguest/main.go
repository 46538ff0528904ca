// Command labguest runs inside a lab VM (started by hack/lab/init) and
// serves the guestapi command channel to the test on the host.
package main

import (
	"context"
	"flag"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/piraeusctl/piraeusctl/internal/lab/guestapi"
)

func main() {
	listen := flag.String("listen", ":2222", "address to serve on")
	token := flag.String("token", "", "token callers must present")
	flag.Parse()
	// busybox init resets PATH; our binaries live in /usr/local/bin.
	os.Setenv("PATH", "/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Addr: *listen, Handler: guestapi.Handler(*token), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	slog.Info("labguest listening", "addr", *listen)
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		slog.Error("labguest", "error", err)
		os.Exit(1)
	}
}
