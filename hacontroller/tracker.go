package hacontroller

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/piraeusctl/piraeusctl/agent/drbd"
)

// Connected is the DRBD connection state of a working replication link.
const Connected = "Connected"

// ResourceState is one DRBD resource as the HA controller decides on it:
// the kernel's state, its options and since when each loss lasts.
type ResourceState struct {
	drbd.Resource
	// Options are the resource's options from `drbdsetup show --json`;
	// OptionsKnown is false until they were read.
	Options      drbd.Options
	OptionsKnown bool
	// LostSince is, per connection name, when the connection left
	// Connected (the events2 timestamp, else when the line was read).
	LostSince map[string]time.Time
	// NoQuorumSince is when a local device lost quorum; zero while all have it.
	NoQuorumSince time.Time
	// SuspendedSince is when I/O was suspended; zero while it runs.
	SuspendedSince time.Time
	// LastEvent is when the last line about this resource was read.
	LastEvent time.Time
}

// HasQuorum reports whether every local device has quorum.
func (r *ResourceState) HasQuorum() bool {
	for _, d := range r.Devices {
		if !d.Quorum {
			return false
		}
	}
	return true
}

// Change is what one events2 line changed.
type Change struct {
	// Resource is the resource the line was about; empty for none.
	Resource string
	// Synced is set on the line that completed the initial state dump.
	Synced bool
	// OptionsStale asks for the resource options to be read again: a new
	// resource appeared or a connection was lost.
	OptionsStale bool
}

// Tracker folds events2 lines into per-resource state. It is safe for
// concurrent use: one stream writes, deciders read snapshots.
type Tracker struct {
	mu      sync.Mutex
	state   *drbd.Events2
	options map[string]drbd.Options
	lost    map[string]map[int]time.Time // resource -> peer-node-id -> since
	noQuo   map[string]time.Time
	susp    map[string]time.Time
	last    map[string]time.Time
	synced  bool
	// resync is the state being rebuilt from a new stream's dump; the old
	// state stays readable (and its loss times are kept) until it completes.
	resync *drbd.Events2
}

// NewTracker returns a tracker that has seen nothing yet.
func NewTracker() *Tracker {
	return &Tracker{
		state:   drbd.NewEvents2(),
		options: map[string]drbd.Options{},
		lost:    map[string]map[int]time.Time{},
		noQuo:   map[string]time.Time{},
		susp:    map[string]time.Time{},
		last:    map[string]time.Time{},
	}
}

// BeginResync starts a new stream: its initial dump replaces the state when
// `exists -` arrives. Loss times of connections that are still lost then
// survive the reconnect; decisions wait until the dump is complete.
func (t *Tracker) BeginResync() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.resync = drbd.NewEvents2()
	t.synced = false
}

// Synced reports whether a complete state dump was read.
func (t *Tracker) Synced() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.synced
}

// Apply folds one event read at time read into the state.
func (t *Tracker) Apply(ev drbd.Event, read time.Time) (Change, error) {
	at := read
	if !ev.Time.IsZero() && ev.Time.Before(read) {
		at = ev.Time
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if ev.Object == "-" {
		if ev.Action == "exists" {
			return t.completeDump(at), nil
		}
		return Change{}, nil
	}
	target := t.state
	if t.resync != nil {
		target = t.resync
	}
	if err := target.Apply(ev); err != nil {
		return Change{}, err
	}
	name := ev.Props["name"]
	if name == "" || ev.Object == "helper" || ev.Action == "call" || ev.Action == "response" {
		return Change{}, nil
	}
	ch := Change{Resource: name}
	t.last[name] = read
	if ev.Object == "resource" && ev.Action == "destroy" {
		t.forget(name)
		return ch, nil
	}
	if ev.Object == "resource" && (ev.Action == "create" || ev.Action == "exists") {
		ch.OptionsStale = t.resync == nil
	}
	r, _ := target.Resource(name)
	ch.OptionsStale = t.trackLosses(&r, at) || ch.OptionsStale
	return ch, nil
}

// trackLosses updates the loss clocks of r after ev; it reports whether a
// connection was newly lost.
func (t *Tracker) trackLosses(r *drbd.Resource, at time.Time) bool {
	newLoss := false
	lost := t.lost[r.Name]
	for _, c := range r.Connections {
		_, was := lost[c.PeerNodeID]
		switch {
		case c.State == Connected && was:
			delete(lost, c.PeerNodeID)
		case c.State != Connected && c.State != "" && !was:
			if lost == nil {
				lost = map[int]time.Time{}
				t.lost[r.Name] = lost
			}
			lost[c.PeerNodeID] = at
			newLoss = t.resync == nil
		}
	}
	for id := range lost {
		if t.resync == nil && !slices.ContainsFunc(r.Connections, func(c drbd.Connection) bool { return c.PeerNodeID == id }) {
			delete(lost, id)
		}
	}
	quorum := true
	for _, d := range r.Devices {
		quorum = quorum && d.Quorum
	}
	setSince(t.noQuo, r.Name, !quorum && len(r.Devices) > 0, at)
	setSince(t.susp, r.Name, r.Suspended, at)
	return newLoss
}

func setSince(m map[string]time.Time, name string, on bool, at time.Time) {
	_, was := m[name]
	switch {
	case on && !was:
		m[name] = at
	case !on && was:
		delete(m, name)
	}
}

// completeDump ends a resync: the rebuilt state replaces the old one and
// clocks of resources that are gone are dropped.
func (t *Tracker) completeDump(at time.Time) Change {
	if t.resync != nil {
		t.state, t.resync = t.resync, nil
		for _, m := range []map[string]time.Time{t.noQuo, t.susp, t.last} {
			maps.DeleteFunc(m, func(name string, _ time.Time) bool { _, ok := t.state.Resource(name); return !ok })
		}
		maps.DeleteFunc(t.lost, func(name string, _ map[int]time.Time) bool { _, ok := t.state.Resource(name); return !ok })
		for _, name := range t.state.Names() {
			r, _ := t.state.Resource(name)
			t.trackLosses(&r, at)
		}
	}
	t.synced = true
	return Change{Synced: true, OptionsStale: true}
}

func (t *Tracker) forget(name string) {
	delete(t.lost, name)
	delete(t.noQuo, name)
	delete(t.susp, name)
	delete(t.last, name)
	delete(t.options, name)
}

// SetOptions records the options read from `drbdsetup show --json`. A
// resource the kernel has but the output lacks gets empty (known) options.
func (t *Tracker) SetOptions(opts map[string]drbd.Options) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var changed []string
	for _, name := range t.state.Names() {
		o := opts[name]
		if old, ok := t.options[name]; !ok || old != o {
			changed = append(changed, name)
		}
		t.options[name] = o
	}
	return changed
}

// Names returns the resources of the current state, sorted.
func (t *Tracker) Names() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.state.Names()
}

// Resource returns a snapshot of one resource.
func (t *Tracker) Resource(name string) (ResourceState, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.snapshot(name)
}

func (t *Tracker) snapshot(name string) (ResourceState, bool) {
	r, ok := t.state.Resource(name)
	if !ok {
		return ResourceState{}, false
	}
	opts, known := t.options[name]
	s := ResourceState{Resource: r, Options: opts, OptionsKnown: known,
		NoQuorumSince: t.noQuo[name], SuspendedSince: t.susp[name], LastEvent: t.last[name]}
	for id, since := range t.lost[name] {
		if s.LostSince == nil {
			s.LostSince = map[string]time.Time{}
		}
		s.LostSince[connName(&r, id)] = since
	}
	return s, true
}

// All returns snapshots of every resource, sorted by name.
func (t *Tracker) All() []ResourceState {
	t.mu.Lock()
	defer t.mu.Unlock()
	names := t.state.Names()
	out := make([]ResourceState, 0, len(names))
	for _, name := range names {
		s, _ := t.snapshot(name)
		out = append(out, s)
	}
	return out
}

func connName(r *drbd.Resource, peer int) string {
	for _, c := range r.Connections {
		if c.PeerNodeID == peer && c.Name != "" {
			return c.Name
		}
	}
	return fmt.Sprintf("peer-node-id:%d", peer)
}
