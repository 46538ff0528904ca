package hostexec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"time"
)

// Streamer starts a long-running read-only command (such as `drbdsetup
// events2`) and hands out its standard output as it is written. Closing the
// stream stops the command; Close then reports how it ended.
type Streamer interface {
	Stream(ctx context.Context, cmd Cmd) (io.ReadCloser, error)
}

// Stream implements Streamer. The command runs without the executor's
// timeout (it is meant to run until ctx ends or the stream is closed).
// After the output reached EOF, Close returns an *ExitError if the command
// exited non-zero.
func (l *Local) Stream(ctx context.Context, cmd Cmd) (io.ReadCloser, error) {
	ctx, cancel := context.WithCancel(ctx)
	c := l.command(ctx, cmd)
	stdout, err := c.StdoutPipe()
	if err != nil {
		cancel()
		return nil, fmt.Errorf("stream %s: %w", cmd.Line(), err)
	}
	s := &stream{cmd: cmd, c: c, stdout: stdout, cancel: cancel, start: time.Now(), l: l}
	c.Stderr = &s.stderr
	if err := c.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("stream %s: %w", cmd.Line(), err)
	}
	l.logger().DebugContext(ctx, "host command stream started", "cmd", cmd.String())
	return s, nil
}

type stream struct {
	cmd    Cmd
	c      *exec.Cmd
	stdout io.Reader
	cancel context.CancelFunc
	start  time.Time
	l      *Local
	stderr bytes.Buffer

	once sync.Once
	err  error
}

func (s *stream) Read(p []byte) (int, error) { return s.stdout.Read(p) }

// Close stops the command if it still runs and waits for it. A command
// that ended by itself reports its exit status; one stopped by Close (or by
// the end of the context) is not an error.
func (s *stream) Close() error {
	s.once.Do(func() {
		s.cancel()
		werr := s.c.Wait()
		s.l.logger().Debug("host command stream ended", "cmd", s.cmd.String(), "duration", time.Since(s.start))
		ps := s.c.ProcessState
		switch {
		case ps != nil && !ps.Exited():
			// Killed by a signal: ours, through cancel.
		case ps != nil && ps.ExitCode() != 0:
			s.err = &ExitError{Cmd: s.cmd, ExitCode: ps.ExitCode(), Stderr: s.stderr.String()}
		case werr != nil && !errors.Is(werr, context.Canceled):
			s.err = fmt.Errorf("%s: %w", s.cmd.Line(), werr)
		}
	})
	return s.err
}
