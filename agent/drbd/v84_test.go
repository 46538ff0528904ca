package drbd

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/agent/internal/drbdcheck"
	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
	"github.com/piraeusctl/piraeusctl/internal/golden"
)

var kernel84 = Version{8, 4, 11}

func twoReplicas() *ResFile {
	return &ResFile{
		Node: "node-a", UID: "u-84", Name: "pvc-84",
		DRBD: &agentv1.DrbdResource{
			Port: 7000, NodeId: 0, Address: "192.168.77.1",
			Peers:       []*agentv1.DrbdPeer{{NodeName: "node-b", NodeId: 1, Address: "192.168.77.2"}},
			NetOptions:  map[string]string{"max-buffers": "8000"},
			DiskOptions: map[string]string{"c-max-rate": "100M", "on-io-error": "detach"},
		},
		Volumes: []Volume{{Number: 1, Minor: 1001, Disk: "/dev/vg0/pvc-84_00001"}, {Number: 0, Minor: 1000, Disk: "/dev/vg0/pvc-84_00000"}},
	}
}

func res84Cases() map[string]*ResFile {
	onePath := twoReplicas()
	onePath.Name = "pvc-84-path"
	onePath.DRBD.Peers[0].Port = 7010
	onePath.DRBD.Peers[0].Paths = []*agentv1.DrbdPath{{LocalAddress: "10.1.0.1", PeerAddress: "10.1.0.2"}}
	ipv6 := twoReplicas()
	ipv6.Name, ipv6.DRBD.Address, ipv6.DRBD.Peers[0].Address = "pvc-84-v6", "fd00::1", "fd00::2"
	return map[string]*ResFile{"two-replicas": twoReplicas(), "one-path": onePath, "ipv6": ipv6}
}

// TestRender84Golden: 8.4 output has golden files and passes drbd-utils'
// own 8.4 parser (drbdadm-84), which rejects DRBD 9 syntax such as node-id.
func TestRender84Golden(t *testing.T) {
	for name, f := range res84Cases() {
		t.Run(name, func(t *testing.T) {
			got, err := Render84(f, kernel84)
			require.NoError(t, err)
			file := golden.Path("res84", name+".res")
			golden.Assert(t, file, got)
			addrs := []string{f.DRBD.Address}
			if p := f.DRBD.Peers[0].Paths; len(p) == 1 {
				addrs = []string{p[0].LocalAddress}
			}
			dump := drbdcheck.Drbdadm84(t, f.Node, addrs, "-c", file, "dump", "all")
			assert.Contains(t, dump, "resource "+f.Name, "drbdadm-84 dump does not show the resource:\n%s", dump)
			up := drbdcheck.Drbdadm84(t, f.Node, addrs, "-c", file, "--dry-run", "up", f.Name)
			golden.Assert(t, golden.Path("res84", name+".up"), up)
		})
	}
}

// TestRender84RefusesDRBD9Features: each refusal names the kernel's DRBD
// version and the feature.
func TestRender84RefusesDRBD9Features(t *testing.T) {
	tests := map[string]struct {
		mutate  func(f *ResFile)
		feature string
	}{
		"three replicas": {func(f *ResFile) {
			f.DRBD.Peers = append(f.DRBD.Peers, &agentv1.DrbdPeer{NodeName: "node-c", NodeId: 2, Address: "192.168.77.3"})
		}, "3 replicas"},
		"single replica":  {func(f *ResFile) { f.DRBD.Peers = nil }, "1 replicas"},
		"diskless peer":   {func(f *ResFile) { f.DRBD.Peers[0].Diskless = true }, "diskless replica or tie-breaker"},
		"diskless local":  {func(f *ResFile) { f.Volumes[1].Disk = "" }, "diskless volume (0)"},
		"quorum majority": {func(f *ResFile) { f.DRBD.Quorum = &agentv1.Quorum{Policy: agentv1.QuorumPolicy_QUORUM_MAJORITY} }, "quorum majority"},
		"on-no-quorum": {func(f *ResFile) {
			f.DRBD.Quorum = &agentv1.Quorum{OnNoQuorum: agentv1.OnNoQuorum_ON_NO_QUORUM_IO_ERROR}
		}, "on-no-quorum"},
		"two network paths": {func(f *ResFile) {
			f.DRBD.Peers[0].Paths = []*agentv1.DrbdPath{{LocalAddress: "10.1.0.1", PeerAddress: "10.1.0.2"}, {LocalAddress: "10.2.0.1", PeerAddress: "10.2.0.2"}}
		}, "2 network paths"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			f := twoReplicas()
			tt.mutate(f)
			_, err := Render84(f, kernel84)
			var ue *UnsupportedError
			require.True(t, errors.As(err, &ue), "want *UnsupportedError, got %v", err)
			msg := err.Error()
			assert.False(t, !strings.Contains(msg, "DRBD is 8.4.11") || !strings.Contains(msg, tt.feature), "error %q should name DRBD 8.4.11 and %q", msg, tt.feature)
		})
	}
	_, err := Render84(&ResFile{Name: "x y"}, kernel84)
	assert.Error(t, err, "Render84 must validate its input like Render")
}

func TestPeerNames84AndName84(t *testing.T) {
	data, err := Render84(twoReplicas(), kernel84)
	require.NoError(t, err)
	got := PeerNames84(data, "node-a")
	require.False(t, len(got) != 1 || got[0] != "node-b", "PeerNames84 = %v, want [node-b]", got)
	r := Resource{Name: "pvc-84", Devices: []Device{{Volume: 0}}, Connections: []Connection{{Name: Peer84Name, State: "Connected"}}}
	Name84(&r, "node-b")
	_, ok := r.Connection("node-b")
	assert.False(t, !ok || !r.Devices[0].Quorum, "after Name84: %+v", r)
}

func TestParseSectors(t *testing.T) {
	kib, err := ParseSectors([]byte("131072\n"))
	assert.False(t, err != nil || kib != 65536, "ParseSectors = %d, %v; want 65536", kib, err)
	_, err = ParseSectors([]byte("x"))
	assert.Error(t, err, "want error for x")
}

func FuzzPeerNames84(f *testing.F) {
	data, _ := Render84(twoReplicas(), kernel84)
	f.Add(data, "node-a")
	f.Add([]byte(`on "a\"b" {`), "x")
	f.Fuzz(func(t *testing.T, data []byte, self string) {
		for _, n := range PeerNames84(data, self) {
			require.NotEqual(t, self, n, "PeerNames84 returned self %q", self)
		}
	})
}

// TestEvents2From84: real `drbdsetup events2 --now` output of an 8.4.11
// module (captured in a lab VM) names the only connection "peer" and has
// neither quorum nor size; Name84 makes it look like DRBD 9's view.
func TestEvents2From84(t *testing.T) {
	data, err := os.ReadFile("testdata/events2-84.txt")
	require.NoError(t, err)
	list, err := ParseEvents2(bytes.NewReader(data))
	require.False(t, err != nil || len(list) != 1, "ParseEvents2: %v, %d resources", err, len(list))
	r := list[0]
	Name84(&r, "node-b")
	conn, ok := r.Connection("node-b")
	require.False(t, !ok || conn.State != "Connected" || len(conn.PeerDevices) != 1 || conn.PeerDevices[0].PeerDiskState != "Inconsistent", "connection to node-b: %+v, %v", conn, ok)
	dev, ok := r.Device(0)
	require.False(t, !ok || dev.Minor != 1000 || dev.DiskState != "Inconsistent" || !dev.Quorum, "device 0: %+v", dev)
}

func FuzzParseSectors(f *testing.F) {
	f.Add([]byte("131072\n"))
	f.Add([]byte("0"))
	f.Fuzz(func(t *testing.T, data []byte) {
		kib, err := ParseSectors(data)
		require.False(t, err == nil && kib > 1<<63, "%d KiB from %q", kib, data)
	})
}

func BenchmarkRender84(b *testing.B) {
	f := twoReplicas()
	for b.Loop() {
		_, err := Render84(f, kernel84)
		require.NoError(b, err)
	}
}
