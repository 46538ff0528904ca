package lab_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/agent/drbd"
	"github.com/piraeusctl/piraeusctl/internal/lab"
)

// eventsCapture follows `drbdsetup events2 --timestamps --statistics` in a
// guest: the initial dump of every resource, then each change live.
type eventsCapture struct {
	vm   *labVM
	file string
}

// startEvents starts a capture named name in vm.
func startEvents(t *testing.T, vm *labVM, name string) *eventsCapture {
	t.Helper()
	e := &eventsCapture{vm: vm, file: "/tmp/events2-" + name}
	sh(t, vm, fmt.Sprintf(`drbdsetup events2 --timestamps --statistics >%[1]s.txt 2>&1 </dev/null & echo $! >%[1]s.pid
while ! grep -q '^[^ ]* exists -$' %[1]s.txt; do sleep 0.1; done`, e.file))
	return e
}

// stop ends the capture and returns what events2 printed; the agent's
// parser must read it.
func (e *eventsCapture) stop(t *testing.T) string {
	t.Helper()
	out := sh(t, e.vm, fmt.Sprintf(`kill $(cat %[1]s.pid); while kill -0 $(cat %[1]s.pid) 2>/dev/null; do sleep 0.1; done; cat %[1]s.txt`, e.file))
	_, err := drbd.ParseEvents2(strings.NewReader(out))
	assert.NoError(t, err, "the agent's events2 parser fails on real DRBD 9 output of %s: %v\n%s", e.vm.Name, err, out)
	return out
}

// statusJSON returns `drbdsetup status --json` of vm and its parse by the
// agent's parser, by resource name.
func statusJSON(t *testing.T, vm *labVM) (string, map[string]drbd.Resource) {
	t.Helper()
	out := sh(t, vm, "drbdsetup status --json")
	list, err := drbd.ParseStatusJSON([]byte(out))
	require.NoError(t, err, "the agent's status parser fails on real DRBD 9 output of %s: %v\n%s", vm.Name, err, out)
	m := map[string]drbd.Resource{}
	for _, r := range list {
		m[r.Name] = r
	}
	return out, m
}

// eventsNow returns `drbdsetup events2 --now --timestamps --statistics`.
func eventsNow(t *testing.T, vm *labVM) string {
	t.Helper()
	out := sh(t, vm, "drbdsetup events2 --now --timestamps --statistics")
	_, err := drbd.ParseEvents2(strings.NewReader(out))
	assert.NoError(t, err, "the agent's events2 parser fails on real DRBD 9 output of %s: %v\n%s", vm.Name, err, out)
	return out
}

// replay feeds captured events2 output through the agent's parser, one
// event at a time, and calls f with each event and the state after it.
func replay(t *testing.T, out string, f func(ev drbd.Event, state map[string]drbd.Resource)) {
	t.Helper()
	st := drbd.NewEvents2()
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		ev, err := drbd.ParseEvent(line)
		require.NoError(t, err)
		require.NoError(t, st.Apply(ev))
		m := map[string]drbd.Resource{}
		for _, r := range st.Resources() {
			m[r.Name] = r
		}
		f(ev, m)
	}
}

// record keeps real DRBD output as a parser input: it writes it to the
// folder lab.RecordEnv names (agent/drbd/testdata refreshes the recorded
// files); without that variable it writes nothing.
func record(t *testing.T, name, data string) {
	t.Helper()
	dir := os.Getenv(lab.RecordEnv)
	if dir == "" {
		return
	}
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, []byte(data), 0o644))
	t.Logf("recorded %s (%d lines)", path, bytes.Count([]byte(data), []byte("\n")))
}
