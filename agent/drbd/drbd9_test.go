package drbd

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The *-drbd9*.txt and *-drbd9*.json files in testdata are real output of
// DRBD 9.2.18 and drbd-utils 9.22, recorded by the lab's DRBD 9 scenarios
// (internal/lab; testdata/README.md says which file is which).

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return data
}

// byName parses a whole events2 file or status --json file.
func byName(t *testing.T, name string) map[string]Resource {
	t.Helper()
	data := readTestdata(t, name)
	var list []Resource
	var err error
	if filepath.Ext(name) == ".json" {
		list, err = ParseStatusJSON(data)
	} else {
		list, err = ParseEvents2(bytes.NewReader(data))
	}
	require.NoError(t, err, name)
	m := map[string]Resource{}
	for _, r := range list {
		m[r.Name] = r
	}
	return m
}

// replayFile applies an events2 file line by line and calls f after each
// event with the state so far.
func replayFile(t *testing.T, name string, f func(ev Event, st *Events2)) *Events2 {
	t.Helper()
	st := NewEvents2()
	sc := bufio.NewScanner(bytes.NewReader(readTestdata(t, name)))
	for n := 1; sc.Scan(); n++ {
		ev, err := ParseEvent(sc.Text())
		require.NoError(t, err, "%s:%d", name, n)
		require.NoError(t, st.Apply(ev), "%s:%d", name, n)
		f(ev, st)
	}
	return st
}

func mustResource(t *testing.T, st *Events2, name string) Resource {
	t.Helper()
	r, ok := st.Resource(name)
	require.True(t, ok, "no resource %s", name)
	return r
}

func volume0(r Resource) Device {
	d, _ := r.Device(0)
	if d == nil {
		return Device{}
	}
	return *d
}

// quorumLost reports whether r's volume 0 is known and without quorum.
func quorumLost(r Resource) bool {
	d, ok := r.Device(0)
	return ok && !d.Quorum
}

func peerDevice0(r Resource, peer string) (Connection, PeerDevice) {
	c, ok := r.Connection(peer)
	if !ok || len(c.PeerDevices) == 0 {
		return Connection{}, PeerDevice{}
	}
	return *c, c.PeerDevices[0]
}

// inSync reports whether r is UpToDate (or a diskless client) with every
// listed peer connected at the wanted peer disk state.
func inSync(r Resource, peers map[string]string) bool {
	d := volume0(r)
	if !d.Quorum || (d.DiskState != "UpToDate" && !d.Client) {
		return false
	}
	for peer, disk := range peers {
		c, pd := peerDevice0(r, peer)
		if c.State != "Connected" || pd.ReplicationState != "Established" || pd.PeerDiskState != disk {
			return false
		}
	}
	return true
}

// normalize orders connections by peer node-id (events2 and status list
// them in different orders) and drops what only one of the sources has.
func normalize(m map[string]Resource) map[string]Resource {
	for name, r := range m {
		r.NodeID = -1
		slices.SortFunc(r.Connections, func(a, b Connection) int { return a.PeerNodeID - b.PeerNodeID })
		m[name] = r
	}
	return m
}

// TestDRBD9StatusAndEvents2Agree: node-a's `drbdsetup events2 --now` and
// `status --json`, taken one after the other in a steady state, read the
// same through both parsers: a 3-replica resource and one with a diskless
// tie-breaker on node-c; and the same on the tie-breaker itself.
func TestDRBD9StatusAndEvents2Agree(t *testing.T) {
	for events, status := range map[string]string{
		"events2-drbd9-now.txt":            "status-drbd9.json",
		"events2-drbd9-now-tiebreaker.txt": "status-drbd9-tiebreaker.json",
	} {
		fromEvents, fromStatus := normalize(byName(t, events)), normalize(byName(t, status))
		assert.Equal(t, fromStatus, fromEvents, "%s and %s differ (expected: status, actual: events2)", status, events)
	}
}

func TestDRBD9Now(t *testing.T) {
	onA := byName(t, "status-drbd9.json")
	q3, tb := onA["pvc-q3"], onA["pvc-tb"]
	assert.Equal(t, 0, q3.NodeID, "pvc-q3 node-id")
	assert.Equal(t, "Secondary", q3.Role, "pvc-q3 role")
	assert.True(t, inSync(q3, map[string]string{"node-b": "UpToDate", "node-c": "UpToDate"}), "pvc-q3 on node-a: %+v; want 3 UpToDate replicas with quorum", q3)
	d := volume0(q3)
	assert.EqualValues(t, 1000, d.Minor, "pvc-q3 volume 0 minor")
	assert.GreaterOrEqual(t, d.SizeKiB, uint64(64<<10), "pvc-q3 volume 0: at least 64 MiB")
	assert.True(t, inSync(tb, map[string]string{"node-b": "UpToDate", "node-c": "Diskless"}), "pvc-tb on node-a: %+v; want node-c a diskless peer", tb)
	_, pd := peerDevice0(tb, "node-c")
	assert.True(t, pd.PeerClient, "pvc-tb: node-c is not marked as an intentionally diskless client: %+v", pd)
	onC := byName(t, "status-drbd9-tiebreaker.json")
	d = volume0(onC["pvc-tb"])
	assert.False(t, !d.Client || d.DiskState != "Diskless" || !d.Quorum || d.SizeKiB == 0, "pvc-tb on the tie-breaker: %+v; want a diskless client with quorum and a size", d)
}

// TestDRBD9PowerCut: the survivor node-b sees Primary node-a vanish, keeps
// quorum throughout, is promoted, and resyncs node-a when it returns; the
// returning node-a starts from nothing and becomes SyncTarget, then
// UpToDate.
func TestDRBD9PowerCut(t *testing.T) {
	var lost, primary, source bool
	st := replayFile(t, "events2-drbd9-powercut-survivor.txt", func(ev Event, st *Events2) {
		r, ok := st.Resource("pvc-q3")
		if !ok {
			return
		}
		assert.False(t, quorumLost(r), "%s: node-b lost quorum of pvc-q3", ev.Time)
		c, pd := peerDevice0(r, "node-a")
		lost = lost || (c.State != "" && c.State != "Connected")
		primary = primary || r.Role == "Primary"
		source = source || pd.ReplicationState == "SyncSource"
	})
	assert.True(t, lost && primary && source, "survivor: node-a lost %t, node-b Primary %t, resync to node-a %t; want all", lost, primary, source)
	for _, name := range []string{"pvc-q3", "pvc-tb"} {
		want := map[string]string{"node-a": "UpToDate", "node-c": "UpToDate"}
		if name == "pvc-tb" {
			want["node-c"] = "Diskless"
		}
		r := mustResource(t, st, name)
		assert.True(t, inSync(r, want), "survivor: %s at the end: %+v", name, r)
	}

	var target bool
	st = replayFile(t, "events2-drbd9-powercut-returning.txt", func(ev Event, st *Events2) {
		if r, ok := st.Resource("pvc-q3"); ok {
			_, pb := peerDevice0(r, "node-b")
			_, pc := peerDevice0(r, "node-c")
			target = target || pb.ReplicationState == "SyncTarget" || pc.ReplicationState == "SyncTarget"
		}
	})
	assert.True(t, target, "returning: node-a never was SyncTarget of pvc-q3")
	r := mustResource(t, st, "pvc-q3")
	assert.True(t, inSync(r, map[string]string{"node-b": "UpToDate", "node-c": "UpToDate"}), "returning: pvc-q3 at the end: %+v", r)
}

// TestDRBD9Partition: node-b, cut off while Primary, loses quorum of both
// volumes; pvc-tb (on-no-quorum suspend-io) suspends, pvc-q3 (io-error)
// does not; after the heal all is in sync again. The majority (node-a)
// never loses quorum and is promoted. drbdsetup prints gap markers there.
func TestDRBD9Partition(t *testing.T) {
	lost, suspended := map[string]bool{}, map[string]bool{}
	st := replayFile(t, "events2-drbd9-partition-isolated.txt", func(_ Event, st *Events2) {
		for _, name := range st.Names() {
			r := mustResource(t, st, name)
			lost[name] = lost[name] || quorumLost(r)
			suspended[name] = suspended[name] || r.Suspended
		}
	})
	assert.Equal(t, map[string]bool{"pvc-q3": true, "pvc-tb": true}, lost, "isolated: quorum lost")
	assert.Equal(t, map[string]bool{"pvc-q3": false, "pvc-tb": true}, suspended, "isolated: suspended")
	assert.NotZero(t, st.Gaps(), "isolated: no gap markers counted")
	for name, want := range map[string]map[string]string{
		"pvc-q3": {"node-a": "UpToDate", "node-c": "UpToDate"},
		"pvc-tb": {"node-a": "UpToDate", "node-c": "Diskless"},
	} {
		r := mustResource(t, st, name)
		assert.False(t, !inSync(r, want) || r.Suspended || r.Role != "Secondary", "isolated: %s after the heal: %+v", name, r)
	}

	var primary bool
	replayFile(t, "events2-drbd9-partition-majority.txt", func(ev Event, st *Events2) {
		for _, name := range st.Names() {
			r := mustResource(t, st, name)
			assert.False(t, quorumLost(r), "%s: the majority lost quorum of %s", ev.Time, name)
			primary = primary || r.Role == "Primary"
		}
	})
	assert.True(t, primary, "majority: node-a never became Primary")

	onB := byName(t, "status-drbd9-partitioned.json")
	for name, suspend := range map[string]bool{"pvc-q3": false, "pvc-tb": true} {
		r := onB[name]
		assert.False(t, r.Role != "Primary" || volume0(r).Quorum || r.Suspended != suspend,
			"status on the cut-off node: %s role %s, quorum %t, suspended %t; want Primary, no quorum, suspended %t",
			name, r.Role, volume0(r).Quorum, r.Suspended, suspend)
	}
}

// TestDRBD9Show: real `drbdsetup show --json` omits defaults, so pvc-tb's
// on-no-quorum suspend-io reads empty.
func TestDRBD9Show(t *testing.T) {
	got, err := ParseShowJSON(readTestdata(t, "show-drbd9.json"))
	require.NoError(t, err)
	want := map[string]Options{"pvc-q3": {Quorum: "majority", OnNoQuorum: "io-error"}, "pvc-tb": {Quorum: "majority"}}
	assert.Equal(t, want, got)
}
