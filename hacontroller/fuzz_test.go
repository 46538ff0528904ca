package hacontroller

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/agent/drbd"
)

// FuzzTracker feeds arbitrary events2 text through the parser and the
// tracker, with a stream break in the middle: nothing panics, no resource
// is nameless, and only lost connections have a loss clock.
func FuzzTracker(f *testing.F) {
	for _, file := range events2Samples(f) {
		seed, err := os.ReadFile(file)
		require.NoError(f, err)
		f.Add(string(seed))
	}
	f.Add("exists -\nchange connection name:a peer-node-id:1 conn-name:x connection:Connecting\nexists -")
	f.Add("destroy resource name:a\nchange device name:a volume:7 quorum:no\nexists -")
	f.Fuzz(func(t *testing.T, in string) {
		tr := NewTracker()
		tr.BeginResync()
		at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		lines := strings.Split(in, "\n")
		for i, line := range lines {
			if i == len(lines)/2 {
				tr.BeginResync()
			}
			ev, err := drbd.ParseEvent(strings.TrimSpace(line))
			if err != nil {
				continue
			}
			_, _ = tr.Apply(ev, at.Add(time.Duration(i)*time.Millisecond))
		}
		if !tr.Synced() {
			return
		}
		for _, r := range tr.All() {
			require.NotEqual(t, "", r.Name, "resource without name")
			_ = r.Summary(at)
			for _, c := range r.Connections {
				_, lost := r.LostSince[c.Name]
				require.False(t, lost && c.State == Connected, "connected %s of %s has a loss clock", c.Name, r.Name)
			}
		}
	})
}
