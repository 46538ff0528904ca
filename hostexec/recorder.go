package hostexec

import (
	"context"
	"fmt"
	"strings"
	"sync"
)

// Recorder wraps an Executor and records every command it is asked to run.
type Recorder struct {
	Next Executor

	mu   sync.Mutex
	cmds []Cmd
}

// Run implements Executor.
func (r *Recorder) Run(ctx context.Context, cmd Cmd) (Result, error) {
	r.mu.Lock()
	r.cmds = append(r.cmds, cmd)
	r.mu.Unlock()
	return r.Next.Run(ctx, cmd)
}

// Commands returns the commands recorded so far.
func (r *Recorder) Commands() []Cmd {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Cmd(nil), r.cmds...)
}

// Reset forgets the recorded commands.
func (r *Recorder) Reset() {
	r.mu.Lock()
	r.cmds = nil
	r.mu.Unlock()
}

// Mutating returns the recorded commands that change the host.
func (r *Recorder) Mutating() []Cmd {
	var out []Cmd
	for _, c := range r.Commands() {
		if c.Mutating {
			out = append(out, c)
		}
	}
	return out
}

// Log renders the recorded commands one per line, as in golden files:
// "write: " for mutating commands, "read:  " for read-only ones.
func (r *Recorder) Log() string {
	return FormatLog(r.Commands())
}

// FormatLog renders commands as Recorder.Log does.
func FormatLog(cmds []Cmd) string {
	var b strings.Builder
	for _, c := range cmds {
		kind := "read: "
		if c.Mutating {
			kind = "write:"
		}
		fmt.Fprintf(&b, "%s %s\n", kind, c)
	}
	return b.String()
}
