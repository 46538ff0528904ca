package drbd

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Event is one line of `drbdsetup events2`, for example
//
//	change peer-device name:r0 peer-node-id:1 conn-name:b volume:0 replication:SyncSource
//
// Action is exists, create, change, destroy, call or response; Object is
// resource, device, connection, peer-device, path, helper or "-" (the end
// of the initial `exists` dump). drbdsetup's gap marker "- skipped N" is an
// Event with Action "-", Object "skipped" and Skipped set.
type Event struct {
	// Time is set when events2 ran with --timestamps.
	Time   time.Time
	Action string
	Object string
	Props  map[string]string
	// Skipped is N of a "- skipped N" line: the kernel's notification
	// sequence numbers jumped (N > 0: N notifications never arrived) or went
	// back (N < 0: they arrived out of order). Real DRBD 9 prints it when a
	// Primary's peer fails; a state built from the stream may then differ
	// from the kernel's until it is read again (`events2 --now`).
	Skipped int
}

// ParseEvent parses one events2 line.
func ParseEvent(line string) (Event, error) {
	fields := strings.Fields(line)
	var ev Event
	if len(fields) > 0 && len(fields[0]) > 0 && fields[0][0] >= '0' && fields[0][0] <= '9' {
		t, err := time.Parse(time.RFC3339Nano, fields[0])
		if err != nil {
			return Event{}, fmt.Errorf("events2 line %q: timestamp: %w", line, err)
		}
		ev.Time, fields = t, fields[1:]
	}
	if len(fields) < 2 {
		return Event{}, fmt.Errorf("events2 line %q: want <action> <object> key:value...", line)
	}
	ev.Action, ev.Object = fields[0], fields[1]
	if ev.Action == "-" && ev.Object == "skipped" {
		n, err := strconv.Atoi(strings.Join(fields[2:], " "))
		if err != nil || n == 0 {
			return Event{}, fmt.Errorf("events2 line %q: want \"- skipped N\" with N a non-zero number", line)
		}
		ev.Skipped, ev.Props = n, map[string]string{}
		return ev, nil
	}
	switch ev.Action {
	case "exists", "create", "change", "destroy", "call", "response", "rename":
	default:
		return Event{}, fmt.Errorf("events2 line %q: unknown action %q", line, ev.Action)
	}
	ev.Props = make(map[string]string, len(fields)-2)
	for _, f := range fields[2:] {
		k, v, ok := strings.Cut(f, ":")
		if !ok || k == "" {
			return Event{}, fmt.Errorf("events2 line %q: field %q is not key:value", line, f)
		}
		ev.Props[k] = v
	}
	return ev, nil
}

// Events2 follows an events2 stream and keeps the resulting state.
type Events2 struct {
	res  map[string]*Resource
	gaps int
}

// NewEvents2 returns an empty state.
func NewEvents2() *Events2 { return &Events2{res: map[string]*Resource{}} }

// ParseEvents2 reads a whole events2 output (e.g. of `drbdsetup events2 --now`)
// and returns the resulting resources, sorted by name.
func ParseEvents2(r io.Reader) ([]Resource, error) {
	st := NewEvents2()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		ev, err := ParseEvent(line)
		if err != nil {
			return nil, err
		}
		if err := st.Apply(ev); err != nil {
			return nil, err
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read events2: %w", err)
	}
	return st.Resources(), nil
}

// Resources returns a copy of the current state, sorted by name.
func (s *Events2) Resources() []Resource {
	out := make([]Resource, 0, len(s.res))
	for _, r := range s.res {
		out = append(out, r.clone())
	}
	slices.SortFunc(out, func(a, b Resource) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Resource returns a copy of the current state of one resource.
func (s *Events2) Resource(name string) (Resource, bool) {
	r, ok := s.res[name]
	if !ok {
		return Resource{}, false
	}
	return r.clone(), true
}

// Names returns the names of the known resources, sorted.
func (s *Events2) Names() []string {
	out := make([]string, 0, len(s.res))
	for name := range s.res {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

func (r *Resource) clone() Resource {
	c := *r
	c.Devices = slices.Clone(r.Devices)
	c.Connections = make([]Connection, len(r.Connections))
	for i, conn := range r.Connections {
		c.Connections[i] = conn
		c.Connections[i].PeerDevices = slices.Clone(conn.PeerDevices)
	}
	return c
}

// Gaps is the number of "- skipped" markers seen so far. When it grows,
// events were lost or reordered, and the state may be stale until it is
// read again.
func (s *Events2) Gaps() int { return s.gaps }

// Apply updates the state with one event.
func (s *Events2) Apply(ev Event) error {
	if ev.Skipped != 0 {
		s.gaps++
		return nil
	}
	if ev.Object == "-" || ev.Action == "call" || ev.Action == "response" || ev.Object == "helper" {
		return nil
	}
	name := ev.Props["name"]
	if name == "" {
		return fmt.Errorf("events2 %s %s: no name", ev.Action, ev.Object)
	}
	if ev.Object == "resource" && ev.Action == "destroy" {
		delete(s.res, name)
		return nil
	}
	r := s.res[name]
	if r == nil {
		r = &Resource{Name: name, NodeID: -1}
		s.res[name] = r
	}
	switch ev.Object {
	case "resource":
		applyResource(r, ev)
	case "device":
		return applyDevice(r, ev)
	case "connection":
		return applyConnection(r, ev)
	case "peer-device":
		return applyPeerDevice(r, ev)
	}
	return nil
}

func applyResource(r *Resource, ev Event) {
	if v, ok := ev.Props["role"]; ok {
		r.Role = v
	}
	if v, ok := ev.Props["suspended"]; ok {
		r.Suspended = v != "no"
	}
	setBool(&r.ForceIOFailures, ev, "force-io-failures")
	if v, ok := ev.Props["node-id"]; ok {
		if n, err := strconv.Atoi(v); err == nil {
			r.NodeID = n
		}
	}
}

func applyDevice(r *Resource, ev Event) error {
	vol, err := intProp(ev, "volume")
	if err != nil {
		return err
	}
	i := slices.IndexFunc(r.Devices, func(d Device) bool { return d.Volume == vol })
	if ev.Action == "destroy" {
		if i >= 0 {
			r.Devices = slices.Delete(r.Devices, i, i+1)
		}
		return nil
	}
	if i < 0 {
		r.Devices = append(r.Devices, Device{Volume: vol})
		i = len(r.Devices) - 1
	}
	d := &r.Devices[i]
	if v, ok := ev.Props["minor"]; ok {
		if d.Minor, err = strconv.Atoi(v); err != nil {
			return fmt.Errorf("events2 device %s/%d: minor %q", r.Name, vol, v)
		}
	}
	setString(&d.DiskState, ev, "disk")
	setBool(&d.Client, ev, "client")
	setBool(&d.Quorum, ev, "quorum")
	if v, ok := ev.Props["size"]; ok {
		if n, err := strconv.ParseUint(v, 10, 64); err == nil {
			d.SizeKiB = n
		}
	}
	return nil
}

func applyConnection(r *Resource, ev Event) error {
	peer, err := intProp(ev, "peer-node-id")
	if err != nil {
		return err
	}
	i := slices.IndexFunc(r.Connections, func(c Connection) bool { return c.PeerNodeID == peer })
	if ev.Action == "destroy" {
		if i >= 0 {
			r.Connections = slices.Delete(r.Connections, i, i+1)
		}
		return nil
	}
	if i < 0 {
		r.Connections = append(r.Connections, Connection{PeerNodeID: peer})
		i = len(r.Connections) - 1
	}
	c := &r.Connections[i]
	setString(&c.Name, ev, "conn-name")
	setString(&c.State, ev, "connection")
	setString(&c.PeerRole, ev, "role")
	return nil
}

func applyPeerDevice(r *Resource, ev Event) error {
	peer, err := intProp(ev, "peer-node-id")
	if err != nil {
		return err
	}
	vol, err := intProp(ev, "volume")
	if err != nil {
		return err
	}
	ci := slices.IndexFunc(r.Connections, func(c Connection) bool { return c.PeerNodeID == peer })
	if ci < 0 {
		if ev.Action == "destroy" {
			return nil
		}
		r.Connections = append(r.Connections, Connection{PeerNodeID: peer, Name: ev.Props["conn-name"]})
		ci = len(r.Connections) - 1
	}
	c := &r.Connections[ci]
	i := slices.IndexFunc(c.PeerDevices, func(p PeerDevice) bool { return p.Volume == vol })
	if ev.Action == "destroy" {
		if i >= 0 {
			c.PeerDevices = slices.Delete(c.PeerDevices, i, i+1)
		}
		return nil
	}
	if i < 0 {
		c.PeerDevices = append(c.PeerDevices, PeerDevice{Volume: vol, PercentInSync: 100})
		i = len(c.PeerDevices) - 1
	}
	pd := &c.PeerDevices[i]
	setString(&pd.ReplicationState, ev, "replication")
	setString(&pd.PeerDiskState, ev, "peer-disk")
	setBool(&pd.PeerClient, ev, "peer-client")
	if v, ok := ev.Props["done"]; ok {
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			pd.PercentInSync = f
		}
	} else if ev.Props["replication"] == "Established" {
		pd.PercentInSync = 100
	}
	return nil
}

func intProp(ev Event, key string) (int, error) {
	v, ok := ev.Props[key]
	if !ok {
		return 0, fmt.Errorf("events2 %s %s %s: no %s", ev.Action, ev.Object, ev.Props["name"], key)
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("events2 %s %s %s: %s %q is not a number", ev.Action, ev.Object, ev.Props["name"], key, v)
	}
	return n, nil
}

func setString(dst *string, ev Event, key string) {
	if v, ok := ev.Props[key]; ok {
		*dst = v
	}
}

func setBool(dst *bool, ev Event, key string) {
	if v, ok := ev.Props[key]; ok {
		*dst = v == "yes" || v == "true"
	}
}
