package hacontroller

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSupervisorReconnects: a broken stream is reopened, the full state is
// read again, and a loss that outlasted the break keeps its start.
func TestSupervisorReconnects(t *testing.T) {
	src := newPipeSource()
	tr, synced, cancel, done := runSupervisor(t, src)
	<-src.opened
	src.feed(t, append(dumpLines("r", "node-a", "Primary"), "exists -")...)
	src.feed(t, lossLines("r", "node-a")...)
	eventually(t, "loss seen", func() bool { r, _ := tr.Resource("r"); return len(r.LostSince) == 1 })
	r, _ := tr.Resource("r")
	since := r.LostSince["node-a"]

	src.breakStream()
	<-src.opened
	require.False(t, tr.Synced(), "still synced while the new stream's dump is unread")
	lines := dumpLines("r", "node-a", "Unknown")
	lines[1] = "exists connection name:r peer-node-id:0 conn-name:node-a connection:Connecting role:Unknown"
	src.feed(t, append(lines, "exists -")...)
	eventually(t, "second dump read", func() bool { return synced() == 2 })
	r, _ = tr.Resource("r")
	got := r.LostSince["node-a"]
	assert.True(t, got.Equal(since), "loss start after reconnect %v, want %v", got, since)
	cancel()
	require.NoError(t, <-done)
}

// TestFileSource: a regular file is read once and held; a FIFO is
// reopened when its writer closes it.
func TestFileSource(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "events2")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	_, synced, cancel, done := runSupervisor(t, FileSource{Path: fifo})
	for i := 1; i <= 2; i++ {
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		require.NoError(t, err)
		_, err = w.WriteString("exists resource name:r role:Secondary suspended:no\nexists -\n")
		require.NoError(t, err)
		w.Close()
		eventually(t, "dump read", func() bool { return synced() == i })
	}
	cancel()
	// Opening a FIFO for reading blocks until a writer comes: give it one.
	if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
		w.Close()
	}
	<-done
}

// runSupervisor runs a supervisor on src; synced counts completed dumps.
func runSupervisor(t *testing.T, src Source) (tr *Tracker, synced func() int, cancel context.CancelFunc, done chan error) {
	tr = NewTracker()
	var mu sync.Mutex
	n := 0
	sup := &Supervisor{Source: src, Tracker: tr, Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil)),
		MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
		Notify: func(ch Change, _ time.Time) {
			if ch.Synced {
				mu.Lock()
				n++
				mu.Unlock()
			}
		}}
	ctx, cancel := context.WithCancel(t.Context())
	done = make(chan error)
	go func() { done <- sup.Run(ctx) }()
	return tr, func() int { mu.Lock(); defer mu.Unlock(); return n }, cancel, done
}
