// Command piraeusctl renders, reviews and converges a Piraeus-style replicated
// block-storage datastore. This package is only the cobra layer: each command
// turns flags into an options struct and makes one call into a library package.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// version is stamped at build time (see Makefile).
var version = "dev"

// Exit codes that scripts can rely on, as diff and kubectl diff use them.
const (
	exitOK      = 0
	exitChanged = 1 // diff found differences
	exitInvalid = 2 // bad input or any other error
	// An interrupted command exits with 128 + the signal number, as a shell
	// reports it: 130 for SIGINT, 143 for SIGTERM.
	exitSignalBase = 128
)

// stopGrace is how long a command may take to stop after SIGINT or SIGTERM
// before the process exits anyway. Commands stop at once; the long-running
// components use a few seconds of it to finish the calls they serve.
const stopGrace = 10 * time.Second

// exitError carries a specific exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// interrupted is the cause of a context ended by a signal.
type interrupted struct{ sig syscall.Signal }

func (i *interrupted) Error() string { return "interrupted by " + signalName(i.sig) }

func signalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return s.String()
}

func main() {
	os.Exit(runWithSignals(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// runWithSignals runs the CLI as a process does: the first SIGINT or SIGTERM
// ends the command's context, and the command stops (files it writes are
// replaced whole, never left half-written); a second signal, or stopGrace
// passing, ends the process at once.
func runWithSignals(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, stdin, stdout, stderr) }()
	var cause *interrupted
	select {
	case code := <-done:
		return code
	case s := <-sigs:
		cause = &interrupted{sig: s.(syscall.Signal)}
		cancel(cause)
	}
	select {
	case code := <-done:
		return code
	case s := <-sigs:
		fmt.Fprintf(stderr, "error: %s, then %s: stopping now\n", cause, signalName(s.(syscall.Signal)))
	case <-time.After(stopGrace):
		fmt.Fprintf(stderr, "error: %s; still stopping after %s: stopping now\n", cause, stopGrace)
	}
	return exitSignalBase + int(cause.sig)
}

// run executes the CLI with args and returns the process exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var sig *interrupted
	if errors.As(context.Cause(ctx), &sig) {
		// Whatever failed, it failed because the command was told to stop.
		fmt.Fprintln(stderr, "error:", sig)
		return exitSignalBase + int(sig.sig)
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(stderr, "error:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "error:", err)
	return exitInvalid
}
