// Command image builds the piraeusctl container image (see internal/image)
// and maintains its Debian package lock. The Makefile runs it:
//
//	go run ./hack/image lock   -packages hack/image/packages.txt -lock hack/image/debian.lock
//	go run ./hack/image build  -lock hack/image/debian.lock -dir bin/image -binary amd64=PATH ...
//	go run ./hack/image rootfs -layout bin/image/oci -platform amd64 -dir DIR
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: image lock|build|rootfs [flags]")
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	switch args[0] {
	case "lock":
		return runLock(ctx, args[1:], log)
	case "build":
		return runBuild(ctx, args[1:], stdout, log)
	case "rootfs":
		return runRootfs(ctx, args[1:], log)
	}
	return fmt.Errorf("unknown subcommand %q: expected lock, build or rootfs", args[0])
}
