package hostexec

import (
	"context"
	"fmt"
	"sync"
)

// Step is one scripted command and the result it produces.
type Step struct {
	// Line must equal Cmd.String() of the expected command.
	Line   string
	Stdout string
	Stderr string
	// ExitCode non-zero makes Run return an *ExitError.
	ExitCode int
}

// Script is a fake Executor that expects an exact sequence of commands and
// replays scripted outputs for them. A command out of order fails the run
// with an error naming both lines.
type Script struct {
	mu    sync.Mutex
	steps []Step
	next  int
}

// NewScript returns a Script expecting steps in order.
func NewScript(steps ...Step) *Script { return &Script{steps: steps} }

// Run implements Executor.
func (s *Script) Run(_ context.Context, cmd Cmd) (Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.next >= len(s.steps) {
		return Result{}, fmt.Errorf("script: unexpected command %q after the last step", cmd.String())
	}
	st := s.steps[s.next]
	if st.Line != cmd.String() {
		return Result{}, fmt.Errorf("script: step %d: expected %q, got %q", s.next, st.Line, cmd.String())
	}
	s.next++
	res := Result{Stdout: []byte(st.Stdout), Stderr: []byte(st.Stderr), ExitCode: st.ExitCode}
	if st.ExitCode != 0 {
		return res, &ExitError{Cmd: cmd, ExitCode: st.ExitCode, Stderr: st.Stderr}
	}
	return res, nil
}

// Remaining returns the steps not yet run.
func (s *Script) Remaining() []Step {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Step(nil), s.steps[s.next:]...)
}
