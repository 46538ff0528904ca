package hacontroller

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/agent/drbd"
	"github.com/piraeusctl/piraeusctl/internal/golden"
)

// events2Samples are the DRBD 9 samples of this package and every events2
// capture of the agent's DRBD package (real DRBD 8.4 output from the lab,
// and DRBD 9 captures as they arrive).
func events2Samples(t testing.TB) []string {
	t.Helper()
	var files []string
	for _, pattern := range []string{"testdata/events2/*.txt", "../agent/drbd/testdata/events2*.txt"} {
		m, err := filepath.Glob(pattern)
		require.NoError(t, err)
		files = append(files, m...)
	}
	require.False(t, len(files) < 4, "found only %d events2 samples: %v", len(files), files)
	return files
}

// decodeTransitions plays an events2 file into a Tracker and writes one line
// per state change of a resource: the summary after the change. Lines
// without a timestamp are read 1 ms apart from a fixed start.
func decodeTransitions(t *testing.T, file string) string {
	t.Helper()
	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	tr := NewTracker()
	tr.BeginResync()
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	last := map[string]string{}
	var b strings.Builder
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		ev, err := drbd.ParseEvent(line)
		require.NoError(t, err, "%s:%d", file, n)
		read := clock.Add(time.Duration(n) * time.Millisecond)
		if !ev.Time.IsZero() {
			read = ev.Time
		}
		ch, err := tr.Apply(ev, read)
		require.NoError(t, err, "%s:%d", file, n)
		if ch.Synced {
			fmt.Fprintf(&b, "%3d synced: %d resources\n", n, len(tr.Names()))
			for _, r := range tr.All() {
				last[r.Name] = r.Summary(time.Time{})
				fmt.Fprintf(&b, "    %s\n", last[r.Name])
			}
		}
		if ch.Resource == "" || !tr.Synced() {
			continue
		}
		r, ok := tr.Resource(ch.Resource)
		s := "destroyed"
		if ok {
			s = r.Summary(time.Time{})
		}
		if last[ch.Resource] != s {
			fmt.Fprintf(&b, "%3d %s\n", n, s)
			last[ch.Resource] = s
		}
	}
	require.NoError(t, sc.Err())
	return b.String()
}

// TestDecodeEvents2Golden: every sample's state transitions, as the
// decisions see them (roles, quorum, suspension, loss clocks).
func TestDecodeEvents2Golden(t *testing.T) {
	for _, file := range events2Samples(t) {
		name := strings.TrimSuffix(filepath.Base(file), ".txt")
		t.Run(name, func(t *testing.T) {
			golden.Assert(t, golden.Path("decode", name+".txt"), decodeTransitions(t, file))
		})
	}
}

// TestTrackerLossClock: a loss is timed from the line that reported it, a
// reconnect clears it, and a new stream keeps the time of a loss that
// outlasted the old stream.
func TestTrackerLossClock(t *testing.T) {
	tr := NewTracker()
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	feed := func(at time.Time, lines ...string) {
		t.Helper()
		for _, l := range lines {
			ev, err := drbd.ParseEvent(l)
			require.NoError(t, err)
			_, err = tr.Apply(ev, at)
			require.NoError(t, err)
		}
	}
	dump := func(state string) []string {
		return []string{
			"exists resource name:r role:Secondary suspended:no",
			"exists connection name:r peer-node-id:0 conn-name:node-a connection:" + state + " role:Unknown",
			"exists device name:r volume:0 minor:1000 disk:UpToDate client:no quorum:yes",
			"exists -",
		}
	}
	tr.BeginResync()
	require.False(t, tr.Synced(), "synced before the dump")
	feed(t0, dump("Connected")...)
	require.True(t, tr.Synced(), "not synced after exists -")
	feed(t0.Add(time.Second), "change connection name:r peer-node-id:0 conn-name:node-a connection:NetworkFailure role:Unknown")
	feed(t0.Add(2*time.Second), "change connection name:r peer-node-id:0 conn-name:node-a connection:Connecting")
	r, _ := tr.Resource("r")
	got := r.LostSince["node-a"]
	require.True(t, got.Equal(t0.Add(time.Second)), "lost since %v, want the first non-Connected line", got)
	// The stream breaks and a new one dumps the still-lost connection.
	tr.BeginResync()
	feed(t0.Add(10*time.Second), dump("Connecting")...)
	r, _ = tr.Resource("r")
	got = r.LostSince["node-a"]
	require.True(t, got.Equal(t0.Add(time.Second)), "after reconnect lost since %v, want the time kept from the old stream", got)
	tr.BeginResync()
	feed(t0.Add(20*time.Second), dump("Connected")...)
	r, _ = tr.Resource("r")
	require.Len(t, r.LostSince, 0, "connected again but lost since %v", r.LostSince)
}
