package hacontroller

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/piraeusctl/piraeusctl/agent/drbd"
	"github.com/piraeusctl/piraeusctl/hostexec"
)

// Source opens one events2 stream: the current state as `exists` lines,
// `exists -`, then changes until the stream ends.
type Source interface {
	Open(ctx context.Context) (io.ReadCloser, error)
	String() string
}

// CommandSource runs `drbdsetup events2 --timestamps` through a
// hostexec.Streamer.
type CommandSource struct {
	Streamer hostexec.Streamer
}

// Open implements Source.
func (s CommandSource) Open(ctx context.Context) (io.ReadCloser, error) {
	return s.Streamer.Stream(ctx, drbd.EventsFollow())
}

func (s CommandSource) String() string { return drbd.EventsFollow().Line() }

// FileSource reads events2 lines from a file, for machines without DRBD
// (hack/local-up.sh) and for replaying captures. A regular file is read
// once and its state then held until the context ends; a FIFO is reopened
// whenever its writer closes it, which the supervisor treats as a broken
// stream (the next writer must start with a full dump, as drbdsetup does).
type FileSource struct {
	Path string
}

// Open implements Source.
func (s FileSource) Open(ctx context.Context) (io.ReadCloser, error) {
	// Opening a FIFO blocks until a writer comes; the context ends the wait.
	type opened struct {
		f   *os.File
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		f, err := os.Open(s.Path)
		ch <- opened{f, err}
	}()
	var f *os.File
	select {
	case <-ctx.Done():
		go func() {
			if o := <-ch; o.f != nil {
				o.f.Close()
			}
		}()
		return nil, ctx.Err()
	case o := <-ch:
		if o.err != nil {
			return nil, fmt.Errorf("events2 file: %w", o.err)
		}
		f = o.f
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("events2 file: %w", err)
	}
	if st.Mode().IsRegular() {
		return &holdAtEOF{ctx: ctx, f: f}, nil
	}
	return f, nil
}

func (s FileSource) String() string { return "file " + s.Path }

// holdAtEOF ends the stream only when the context ends.
type holdAtEOF struct {
	ctx context.Context
	f   *os.File
}

func (h *holdAtEOF) Read(p []byte) (int, error) {
	n, err := h.f.Read(p)
	if errors.Is(err, io.EOF) && n == 0 {
		<-h.ctx.Done()
	}
	return n, err
}

func (h *holdAtEOF) Close() error { return h.f.Close() }

// Supervisor keeps one events2 stream running: it feeds every line to the
// Tracker and calls Notify with what changed. When the stream breaks it
// opens a new one (after a short, growing pause) and re-reads the full
// state; it never polls.
type Supervisor struct {
	Source  Source
	Tracker *Tracker
	Notify  func(Change, time.Time)
	Logger  *slog.Logger
	Metrics *Metrics
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MinBackoff and MaxBackoff bound the pause before reopening a broken
	// stream (defaults 500ms and 10s).
	MinBackoff, MaxBackoff time.Duration
}

// Run follows the stream until ctx ends.
func (s *Supervisor) Run(ctx context.Context) error {
	if s.Metrics == nil {
		s.Metrics = NewMetrics()
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	minB, maxB := s.MinBackoff, s.MaxBackoff
	if minB <= 0 {
		minB = 500 * time.Millisecond
	}
	if maxB <= 0 {
		maxB = 10 * time.Second
	}
	backoff := minB
	for {
		start := time.Now()
		err := s.runOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(start) > 30*time.Second {
			backoff = minB
		}
		s.Logger.Warn("events2 stream ended; reopening it and re-reading the full state",
			"source", s.Source.String(), "err", err, "after", time.Since(start).Round(time.Millisecond), "pause", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxB)
	}
}

func (s *Supervisor) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// runOnce reads one stream to its end.
func (s *Supervisor) runOnce(ctx context.Context) error {
	r, err := s.Source.Open(ctx)
	if err != nil {
		return err
	}
	// The end of the context ends a read that waits for the next line.
	stop := context.AfterFunc(ctx, func() { r.Close() })
	defer stop()
	s.Tracker.BeginResync()
	s.Metrics.streamStarts.Inc()
	s.Logger.Info("events2 stream opened", "source", s.Source.String())
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		read := s.now()
		s.Metrics.lines.Inc()
		ev, err := drbd.ParseEvent(line)
		var ch Change
		if err == nil {
			ch, err = s.Tracker.Apply(ev, read)
		}
		if err != nil {
			// One bad line must not blind the controller: skip it, say so.
			s.Metrics.parseErrors.Inc()
			s.Logger.Warn("events2 line skipped", "source", s.Source.String(), "line", n, "err", err)
			continue
		}
		if ch.Synced {
			s.Logger.Info("events2 initial state read", "resources", len(s.Tracker.Names()), "lines", n)
		}
		if s.Notify != nil && (ch.Resource != "" || ch.Synced) {
			s.Notify(ch, read)
		}
	}
	serr := sc.Err()
	cerr := r.Close()
	if serr != nil {
		return fmt.Errorf("read events2 at line %d: %w", n+1, serr)
	}
	if cerr != nil {
		return cerr
	}
	return fmt.Errorf("events2 stream closed after %d lines", n)
}
