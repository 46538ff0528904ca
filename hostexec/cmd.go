package hostexec

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Cmd is one host command.
type Cmd struct {
	// Name is the program (looked up in PATH by the Local executor).
	Name string
	// Args are the arguments, without the program name.
	Args []string
	// Mutating marks commands that may change the host. Read-only commands
	// (reports, status, dry runs) leave it false.
	Mutating bool
	// Hostname, when set, runs the command in a new UTS namespace whose host
	// name is this value (DRBD tools must see the Kubernetes node name).
	Hostname string
	// Timeout overrides the executor's default timeout when non-zero.
	Timeout time.Duration
	// Exclusive, when set, names a host-wide lock the Local executor holds
	// while the command runs: commands with the same key never run at once
	// on this host, whichever process runs them (see Local).
	Exclusive string
}

// Read returns a read-only command.
func Read(name string, args ...string) Cmd { return Cmd{Name: name, Args: args} }

// Write returns a mutating command.
func Write(name string, args ...string) Cmd { return Cmd{Name: name, Args: args, Mutating: true} }

// Alone returns a copy of c that runs under the host-wide lock key.
func (c Cmd) Alone(key string) Cmd {
	c.Exclusive = key
	return c
}

// InUTS returns a copy of c that runs with the given host name.
func (c Cmd) InUTS(hostname string) Cmd {
	c.Hostname = hostname
	return c
}

// Line is the command line, shell-quoted where needed.
func (c Cmd) Line() string {
	parts := make([]string, 0, len(c.Args)+1)
	parts = append(parts, quote(c.Name))
	for _, a := range c.Args {
		parts = append(parts, quote(a))
	}
	return strings.Join(parts, " ")
}

// String is the command line as it appears in logs and golden files: the
// host name of the UTS namespace, if any, comes first.
func (c Cmd) String() string {
	if c.Hostname != "" {
		return "[uts " + c.Hostname + "] " + c.Line()
	}
	return c.Line()
}

func quote(s string) string {
	if s == "" {
		return "''"
	}
	if strings.IndexFunc(s, needsQuote) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func needsQuote(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return false
	}
	return !strings.ContainsRune("-_./:=,+%@", r)
}

// Result is what a finished command produced.
type Result struct {
	Stdout   []byte
	Stderr   []byte
	ExitCode int
}

// Executor runs host commands. Run returns the Result also when the command
// failed; the error is then an *ExitError (non-zero exit) or describes why the
// command could not run at all.
type Executor interface {
	Run(ctx context.Context, cmd Cmd) (Result, error)
}

// ExitError reports a command that ran and exited non-zero.
type ExitError struct {
	Cmd      Cmd
	ExitCode int
	Stderr   string
}

func (e *ExitError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if len(msg) > 2000 {
		msg = msg[:2000] + "…"
	}
	if msg == "" {
		msg = "no output on stderr"
	}
	return fmt.Sprintf("%s failed (exit %d): %s", e.Cmd.Line(), e.ExitCode, msg)
}

// ExitCode returns the exit code carried by err, if err is (or wraps) an *ExitError.
func ExitCode(err error) (int, bool) {
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode, true
	}
	return 0, false
}
