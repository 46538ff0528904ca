package drbdsim

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/agent/drbd"
)

// BenchmarkStatus100Resources is the simulator's share of an agent's
// status poll in a steady state: `drbdsetup status --json` of a node with
// 100 three-replica resources, all connected and UpToDate.
func BenchmarkStatus100Resources(b *testing.B) {
	dir := b.TempDir()
	st := store{dir: dir}
	at := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	names := []string{"node-a", "node-b", "node-c"}
	for i := range 100 {
		res := fmt.Sprintf("pvc-%03d", i)
		nodes := map[string]*nodeState{}
		for id, name := range names {
			n := &nodeState{Resource: res, Node: name, Up: true, NodeID: id, Role: "Secondary",
				Options: map[string]string{"quorum": "majority", "on-no-quorum": "io-error"},
				Volumes: []*volume{{Number: 0, Minor: 1000 + i, InKernel: true, Disk: "/dev/loop" + fmt.Sprint(3*i+id), UsableKiB: 16 << 10,
					MD: &metadata{Disk: "/dev/loop" + fmt.Sprint(3*i+id), MaxPeers: 7, State: "UpToDate", UUID: "ABCDEF0123456788", UpToDateAt: at, SizeKiB: 16 << 10}}}}
			for pid, peerName := range names {
				if pid == id {
					continue
				}
				n.Peers = append(n.Peers, &peer{NodeID: pid, Name: peerName, Connect: true, ConnectAt: at,
					Paths: []path{{Local: fmt.Sprintf("ipv4:127.0.0.%d:%d", id+1, 7000+i), Peer: fmt.Sprintf("ipv4:127.0.0.%d:%d", pid+1, 7000+i)}}})
			}
			nodes[name] = n
		}
		unlock, err := st.lock(res)
		require.NoError(b, err)
		require.NoError(b, st.save(res, nodes, map[string][]byte{}))
		unlock()
	}
	host := &fakeHost{size: map[string]uint64{}}
	s, err := New(Config{Dir: dir, Node: "node-a", Next: host, Drbdadm: host, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(b, err)
	for b.Loop() {
		res, err := s.Run(b.Context(), drbd.StatusJSON())
		require.NoError(b, err)
		list, err := drbd.ParseStatusJSON(res.Stdout)
		require.False(b, err != nil || len(list) != 100 || list[99].Connections[1].State != "Connected", "%v %d", err, len(list))
	}
}

// BenchmarkThreeReplicaBringUp is the simulator's cost of a new 3-replica
// resource becoming UpToDate everywhere: create-md and up on three nodes
// and the skipped initial sync, each drbdadm command checked by the real
// drbdadm (the cost of an agent's DRBD steps without the agent).
func BenchmarkThreeReplicaBringUp(b *testing.B) {
	l := newLab(b, 0, "node-a", "node-b", "node-c")
	i := 0
	for b.Loop() {
		res, minor := fmt.Sprintf("pvc-%d", i), uint32(1000+i)
		i++
		l.resource(res, minor, 1<<30, true, member{"node-a", 0, false}, member{"node-b", 1, false}, member{"node-c", 2, false})
		for _, n := range []string{"node-a", "node-b", "node-c"} {
			l.up(n, res, true)
		}
		l.run("node-a", l.admin("node-a", res).ClearBitmapNewUUID(0))
		d := l.status("node-c")[res].Devices[0]
		require.Equal(b, "UpToDate", d.DiskState, "%s on node-c: %+v", res, d)
	}
}
