package hostexec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"syscall"
	"time"
)

// DefaultTimeout bounds a command when neither the Cmd nor the Local
// executor says otherwise.
const DefaultTimeout = 2 * time.Minute

// utsScript sets the host name of the new UTS namespace and then becomes
// the command. It needs only a POSIX shell and /proc.
const utsScript = `printf '%s' "$0" > /proc/sys/kernel/hostname && exec "$@"`

// Local runs commands on this host.
type Local struct {
	// Timeout per command; zero means DefaultTimeout.
	Timeout time.Duration
	// Logger receives one debug record per command; nil means slog.Default().
	Logger *slog.Logger
}

// Run implements Executor.
func (l *Local) Run(ctx context.Context, cmd Cmd) (Result, error) {
	timeout := cmd.Timeout
	if timeout == 0 {
		timeout = l.Timeout
	}
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	if cmd.Exclusive != "" {
		unlock, err := hostLock(ctx, cmd.Exclusive)
		if err != nil {
			return Result{}, fmt.Errorf("%s: %w", cmd.Line(), err)
		}
		defer unlock()
	}
	c := l.command(ctx, cmd)
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	start := time.Now()
	err := c.Run()
	res := Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: c.ProcessState.ExitCode()}
	l.logger().DebugContext(ctx, "host command", "cmd", cmd.String(), "mutating", cmd.Mutating,
		"exit", res.ExitCode, "duration", time.Since(start))
	if err == nil {
		return res, nil
	}
	if ctx.Err() != nil {
		return res, fmt.Errorf("%s: %w (timeout %s)", cmd.Line(), ctx.Err(), timeout)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return res, &ExitError{Cmd: cmd, ExitCode: res.ExitCode, Stderr: stderr.String()}
	}
	return res, fmt.Errorf("run %s: %w", cmd.Line(), err)
}

func (l *Local) command(ctx context.Context, cmd Cmd) *exec.Cmd {
	if cmd.Hostname == "" {
		return exec.CommandContext(ctx, cmd.Name, cmd.Args...)
	}
	args := append([]string{"-c", utsScript, cmd.Hostname, cmd.Name}, cmd.Args...)
	c := exec.CommandContext(ctx, "sh", args...)
	c.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUTS}
	return c
}

func (l *Local) logger() *slog.Logger {
	if l.Logger != nil {
		return l.Logger
	}
	return slog.Default()
}
