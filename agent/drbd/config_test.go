package drbd

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/agent/internal/drbdcheck"
	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
	"github.com/piraeusctl/piraeusctl/internal/golden"
)

func threeReplicas() *ResFile {
	return &ResFile{
		Node: "node-a", UID: "9d2c41d6-0f1e-4f5e-a0d4-1c7c3f0e6a11", Name: "pvc-1",
		DRBD: &agentv1.DrbdResource{
			Port: 7000, NodeId: 0, Address: "10.0.0.1",
			Peers: []*agentv1.DrbdPeer{
				{NodeName: "node-c", NodeId: 2, Address: "10.0.0.3", Diskless: true},
				{NodeName: "node-b", NodeId: 1, Address: "10.0.0.2"},
			},
			ResourceOptions: map[string]string{"auto-promote": "yes"},
			NetOptions:      map[string]string{"max-buffers": "10000", "rr-conflict": "retry-connect", "verify-alg": "crc32c"},
			DiskOptions:     map[string]string{"on-io-error": "detach", "c-max-rate": "100M"},
			Quorum:          &agentv1.Quorum{Policy: agentv1.QuorumPolicy_QUORUM_MAJORITY, OnNoQuorum: agentv1.OnNoQuorum_ON_NO_QUORUM_IO_ERROR},
		},
		Volumes: []Volume{{Number: 0, Minor: 1000, Disk: "/dev/vg0/pvc-1_00000"}},
	}
}

func resCases() map[string]*ResFile {
	tieBreaker := threeReplicas()
	tieBreaker.Node = "node-c"
	tieBreaker.DRBD = &agentv1.DrbdResource{
		Port: 7000, NodeId: 2, Address: "10.0.0.3",
		Peers: []*agentv1.DrbdPeer{
			{NodeName: "node-a", NodeId: 0, Address: "10.0.0.1"},
			{NodeName: "node-b", NodeId: 1, Address: "10.0.0.2"},
		},
		Quorum: &agentv1.Quorum{Policy: agentv1.QuorumPolicy_QUORUM_MAJORITY, OnNoQuorum: agentv1.OnNoQuorum_ON_NO_QUORUM_SUSPEND_IO},
	}
	tieBreaker.Volumes = []Volume{{Number: 0, Minor: 1000}}

	paths := threeReplicas()
	paths.DRBD.Peers[1].Paths = []*agentv1.DrbdPath{
		{LocalAddress: "192.168.10.1", PeerAddress: "192.168.10.2"},
		{LocalAddress: "192.168.20.1", PeerAddress: "192.168.20.2"},
	}
	paths.DRBD.Peers[0].Port = 7010

	single := &ResFile{
		Node: "node-a", UID: "u-2", Name: "data.two-volumes",
		DRBD:    &agentv1.DrbdResource{Port: 7001, NodeId: 3, Address: "fd00::1"},
		Volumes: []Volume{{Number: 1, Minor: 1011, Disk: "/dev/loop7"}, {Number: 0, Minor: 1010, Disk: "/dev/loop6"}},
	}
	return map[string]*ResFile{
		"three-replicas": threeReplicas(),
		"tie-breaker":    tieBreaker,
		"paths":          paths,
		"single-ipv6":    single,
	}
}

// localAddrs are the addresses drbdadm must find on the host for f.
func localAddrs(f *ResFile) []string {
	addrs := []string{f.DRBD.Address}
	for _, p := range f.DRBD.Peers {
		for _, path := range p.Paths {
			addrs = append(addrs, path.LocalAddress)
		}
	}
	return addrs
}

func TestRenderGolden(t *testing.T) {
	for name, f := range resCases() {
		t.Run(name, func(t *testing.T) {
			got, err := Render(f)
			require.NoError(t, err)
			file := golden.Path("res", name+".res")
			golden.Assert(t, file, got)
			// drbdadm's own parser must accept it, as the local host ...
			dump := drbdadm(t, f.Node, localAddrs(f), "-c", file, "dump", "all")
			assert.Contains(t, dump, "resource "+f.Name, "drbdadm dump does not show the resource:\n%s", dump)
			// ... and bring it up with exactly these kernel calls.
			up := drbdadm(t, f.Node, localAddrs(f), "-c", file, "--dry-run", "up", f.Name)
			golden.Assert(t, golden.Path("res", name+".up"), up)
		})
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	a, _ := Render(threeReplicas())
	for range 20 {
		b, _ := Render(threeReplicas())
		require.Equal(t, b, a, "two renders of the same input differ")
	}
}

func TestValidateRejects(t *testing.T) {
	tests := map[string]func(f *ResFile){
		"name with space":       func(f *ResFile) { f.Name = "a b" },
		"name with brace":       func(f *ResFile) { f.Name = "a}" },
		"bad node":              func(f *ResFile) { f.Node = "node;a" },
		"bad option value":      func(f *ResFile) { f.DRBD.NetOptions["x"] = "1; }" },
		"bad option key":        func(f *ResFile) { f.DRBD.DiskOptions["X Y"] = "1" },
		"quorum in options":     func(f *ResFile) { f.DRBD.ResourceOptions["quorum"] = "all" },
		"duplicate node id":     func(f *ResFile) { f.DRBD.Peers[0].NodeId = 0 },
		"duplicate peer":        func(f *ResFile) { f.DRBD.Peers[0].NodeName = "node-b" },
		"peer is local node":    func(f *ResFile) { f.DRBD.Peers[0].NodeName = "node-a" },
		"node id too big":       func(f *ResFile) { f.DRBD.NodeId = 32 },
		"bad address":           func(f *ResFile) { f.DRBD.Address = "10.0.0" },
		"bad peer address":      func(f *ResFile) { f.DRBD.Peers[1].Address = "node-b" },
		"bad path":              func(f *ResFile) { f.DRBD.Peers[1].Paths = []*agentv1.DrbdPath{{LocalAddress: "x"}} },
		"no port":               func(f *ResFile) { f.DRBD.Port = 0 },
		"no volumes":            func(f *ResFile) { f.Volumes = nil },
		"disk path with spaces": func(f *ResFile) { f.Volumes[0].Disk = "/dev/x y" },
		"no drbd":               func(f *ResFile) { f.DRBD = nil },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			f := threeReplicas()
			mutate(f)
			_, err := Render(f)
			assert.Error(t, err, "want error")
		})
	}
}

func TestMetaSize(t *testing.T) {
	tests := []struct {
		data  uint64
		peers uint32
		want  uint64
	}{
		{1024 * 1024, 7, 36 + 8*4*7}, // 1 GiB: 8 bitmap pages per peer
		{1024 * 1024, 1, 36 + 8*4},   // 1 GiB, one peer
		{1, 0, 36 + 4*7},             // tiny, default peers
		{128 * 1024, 7, 36 + 4*7},    // exactly 128 MiB
		{128*1024 + 1, 7, 36 + 8*7},  // just above
	}
	for _, tt := range tests {
		got := InternalMetaSizeKiB(tt.data, tt.peers)
		assert.Equal(t, tt.want, got, "InternalMetaSizeKiB(%d, %d) = %d, want %d", tt.data, tt.peers, got, tt.want)
	}
	net := uint64(1024 * 1024)
	gross := GrossSizeKiB(net, 7)
	assert.False(t, gross-InternalMetaSizeKiB(gross, 7) < net || gross%4 != 0, "GrossSizeKiB(%d) = %d leaves less than the net size", net, gross)
}

// drbdadm runs the real drbdadm as node (see drbdcheck).
func drbdadm(t *testing.T, node string, addrs []string, args ...string) string {
	t.Helper()
	return drbdcheck.Drbdadm(t, node, addrs, args...)
}
