package controller

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"

	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	"github.com/piraeusctl/piraeusctl/internal/golden"
)

func desiredVolumes() []*storagev1alpha1.StorageVolume {
	three := vol("pvc-three", "replicated", diskful("n1", 0, 7000, 1000), diskful("n2", 1, 7001, 1000), diskful("n3", 2, 7000, 1003))
	three.Spec.Properties = map[string]string{"DrbdOptions/Net/max-buffers": "8000", "Aux/app": "db"}
	two := vol("pvc-two", "two", diskful("n1", 0, 7002, 1001), diskful("n2", 1, 7002, 1001), tieBreaker("n3", 2, 7001, 1001))
	local := vol("pvc-local", "local", storagev1alpha1.Replica{Node: "n1", StoragePool: "thin"})
	return []*storagev1alpha1.StorageVolume{three, two, local}
}

// TestDesiredGolden pins every node's desired state for a 3-replica volume
// with quorum options, a 2-replica volume with a tie-breaker, per-node ports
// and minors, a node-connection path and a storage-only volume.
func TestDesiredGolden(t *testing.T) {
	topo := testTopology()
	vols := desiredVolumes()
	for _, node := range []string{"n1", "n2", "n3"} {
		t.Run(node, func(t *testing.T) {
			d, problems := Desired(node, DesiredInput{Topology: topo, Volumes: vols, Fresh: func(v *storagev1alpha1.StorageVolume) bool { return v.Name == "pvc-two" }})
			require.Empty(t, problems)
			out, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(d)
			require.NoError(t, err)
			golden.Assert(t, golden.Path("desired-"+node+".json"), append(normalizeJSON(out), '\n'))
		})
	}
}

// normalizeJSON undoes protojson's deliberate random spacing.
func normalizeJSON(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == ':' && i+2 < len(b) && b[i+1] == ' ' && b[i+2] == ' ' {
			out = append(out, ':', ' ')
			i += 2
			continue
		}
		out = append(out, b[i])
	}
	return out
}

func TestDesiredPerNodePortsAndPeers(t *testing.T) {
	d, problems := Desired("n3", DesiredInput{Topology: testTopology(), Volumes: desiredVolumes()})
	require.Empty(t, problems)
	require.Len(t, d.Resources, 2, "n3 holds pvc-three and the tie-breaker of pvc-two, not pvc-local")
	three := d.Resources[0]
	assert.Equal(t, "pvc-three", three.Name)
	assert.EqualValues(t, 7000, three.Drbd.Port, "n3's own port")
	assert.EqualValues(t, 1003, three.Volumes[0].Minor, "n3's own minor")
	assert.EqualValues(t, 7001, three.Drbd.Peers[1].Port, "n2 listens on its own port")
	assert.Equal(t, agentv1.QuorumPolicy_QUORUM_MAJORITY, three.Drbd.Quorum.Policy)
	assert.Equal(t, agentv1.OnNoQuorum_ON_NO_QUORUM_SUSPEND_IO, three.Drbd.Quorum.OnNoQuorum, "DrbdOptions/auto-quorum=suspend-io")
	assert.Equal(t, "8000", three.Drbd.NetOptions["max-buffers"], "volume props win")
	assert.Equal(t, "crc32c", three.Drbd.NetOptions["verify-alg"], "group DRBD options")
	assert.Equal(t, "100M", three.Drbd.DiskOptions["c-max-rate"])
	tb := d.Resources[1]
	assert.True(t, tb.Volumes[0].Diskless)
	assert.Equal(t, agentv1.QuorumPolicy_QUORUM_MAJORITY, tb.Drbd.Quorum.Policy, "two diskful + tie-breaker have quorum")
}

func TestDesiredInitialPrimaryOnlyWhenFresh(t *testing.T) {
	for _, fresh := range []bool{true, false} {
		d, _ := Desired("n1", DesiredInput{Topology: testTopology(), Volumes: desiredVolumes(), Fresh: func(*storagev1alpha1.StorageVolume) bool { return fresh }})
		assert.Equal(t, fresh, d.Resources[2].Drbd.InitialPrimary, "n1 has node id 0 of pvc-two")
		assert.Equal(t, fresh, d.Resources[2].Drbd.SkipInitialSync, "both diskful replicas are thin")
		d2, _ := Desired("n2", DesiredInput{Topology: testTopology(), Volumes: desiredVolumes(), Fresh: func(*storagev1alpha1.StorageVolume) bool { return fresh }})
		assert.False(t, d2.Resources[1].Drbd.InitialPrimary, "only one node starts the data")
	}
}

func TestDesiredProblems(t *testing.T) {
	noPort := vol("pvc-noport", "two", diskful("n1", 0, 0, 1000), diskful("n2", 1, 7000, 1000))
	badGroup := vol("pvc-badlayer", "two", diskful("n1", 0, 7000, 1000))
	badGroup.Spec.LayerList = []string{"luks", "storage"}
	noMinor := vol("pvc-nominor", "two", diskful("n1", 0, 7003, 1000))
	noMinor.Spec.Replicas[0].Minors = nil
	ok := vol("pvc-ok", "two", diskful("n1", 0, 7004, 1004))
	d, problems := Desired("n1", DesiredInput{Topology: testTopology(), Volumes: []*storagev1alpha1.StorageVolume{noPort, badGroup, noMinor, ok}})
	require.Len(t, d.Resources, 1, "one bad volume never hides the others")
	assert.Equal(t, "pvc-ok", d.Resources[0].Name)
	assert.ErrorContains(t, problems["pvc-noport"], "no DRBD port")
	assert.ErrorContains(t, problems["pvc-badlayer"], `layer "luks" is not supported`)
	assert.ErrorContains(t, problems["pvc-nominor"], "0 minors for 1 volumes")
}

func TestDesiredUnknownNodeIsEmpty(t *testing.T) {
	d, problems := Desired("gone", DesiredInput{Topology: testTopology(), Volumes: desiredVolumes()})
	assert.Empty(t, d.Resources)
	assert.Empty(t, d.StoragePools)
	assert.Empty(t, problems)
}

func TestNodeAddress(t *testing.T) {
	topo := testTopology()
	topo.Nodes[0].Addresses = []storagev1alpha1.NodeAddress{{Type: "ExternalIP", Address: "2001:db8::1"}, {Type: "InternalIP", Address: "fd00::1"}}
	a, err := nodeAddress(topo, "n1", interfaceIPv4)
	require.NoError(t, err)
	assert.Equal(t, "fd00::1", a, "IPv6-only node: InternalIP first")
	a, err = nodeAddress(topo, "n1", interfaceIPv6)
	require.NoError(t, err)
	assert.Equal(t, "fd00::1", a)
	_, err = nodeAddress(topo, "n2", interfaceIPv6)
	assert.ErrorContains(t, err, "no IPv6 address")
	_, err = nodeAddress(topo, "n2", "eth7")
	assert.ErrorContains(t, err, `net interface "eth7" of node n2 is unknown`)
}

func TestQuorum(t *testing.T) {
	reps := func(n int) []storagev1alpha1.Replica { return make([]storagev1alpha1.Replica, n) }
	cases := []struct {
		name   string
		props  map[string]string
		n      int
		policy agentv1.QuorumPolicy
		onNo   agentv1.OnNoQuorum
	}{
		{"two replicas: off", nil, 2, agentv1.QuorumPolicy_QUORUM_OFF, agentv1.OnNoQuorum_ON_NO_QUORUM_UNSPECIFIED},
		{"three replicas: majority, io-error", nil, 3, agentv1.QuorumPolicy_QUORUM_MAJORITY, agentv1.OnNoQuorum_ON_NO_QUORUM_IO_ERROR},
		{"auto-quorum disabled", map[string]string{propAutoQuorum: "disabled"}, 3, agentv1.QuorumPolicy_QUORUM_OFF, agentv1.OnNoQuorum_ON_NO_QUORUM_UNSPECIFIED},
		{"explicit quorum on two", map[string]string{propQuorum: "majority"}, 2, agentv1.QuorumPolicy_QUORUM_MAJORITY, agentv1.OnNoQuorum_ON_NO_QUORUM_IO_ERROR},
		{"explicit on-no-quorum", map[string]string{propOnNoQuorum: "suspend-io"}, 3, agentv1.QuorumPolicy_QUORUM_MAJORITY, agentv1.OnNoQuorum_ON_NO_QUORUM_SUSPEND_IO},
		{"explicit off wins", map[string]string{propQuorum: "off"}, 5, agentv1.QuorumPolicy_QUORUM_OFF, agentv1.OnNoQuorum_ON_NO_QUORUM_UNSPECIFIED},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := quorum(tc.props, reps(tc.n))
			assert.Equal(t, tc.policy, q.Policy)
			assert.Equal(t, tc.onNo, q.OnNoQuorum)
		})
	}
}

// TestDesiredReplicaWentDiskless: an evacuation's DropDisk step turns the
// replica on a leaving node diskless in the spec; its agent is told the
// same resource, node id, port and minor without a disk (drbdadm adjust
// detaches it), and its peers see it diskless.
func TestDesiredReplicaWentDiskless(t *testing.T) {
	vols := desiredVolumes()
	n3 := &vols[0].Spec.Replicas[2]
	n3.Diskless, n3.StoragePool = true, ""
	d, problems := Desired("n3", DesiredInput{Topology: testTopology(), Volumes: vols})
	require.Empty(t, problems)
	three := d.Resources[0]
	require.Equal(t, "pvc-three", three.Name)
	assert.True(t, three.Volumes[0].Diskless)
	assert.Empty(t, three.Volumes[0].StoragePool)
	assert.EqualValues(t, 1003, three.Volumes[0].Minor, "the same minor")
	assert.EqualValues(t, 7000, three.Drbd.Port, "the same port")
	assert.EqualValues(t, 2, three.Drbd.NodeId, "the same node id")
	peers, _ := Desired("n1", DesiredInput{Topology: testTopology(), Volumes: vols})
	i := slices.IndexFunc(peers.Resources, func(r *agentv1.Resource) bool { return r.Name == "pvc-three" })
	require.GreaterOrEqual(t, i, 0)
	for _, p := range peers.Resources[i].Drbd.Peers {
		assert.Equal(t, p.NodeName == "n3", p.Diskless, "n1 sees %s", p.NodeName)
	}
}

// TestDesiredUnknownPoolIsAProblem: a diskful replica in a pool the node
// does not have (none, or a typo) is that volume's problem; the node's
// other resources are still told, since the agent refuses a desired state
// naming an unknown pool as a whole.
func TestDesiredUnknownPoolIsAProblem(t *testing.T) {
	for _, pool := range []string{"", "thinn"} {
		t.Run("pool="+pool, func(t *testing.T) {
			bad := vol("pvc-bad", "two", storagev1alpha1.Replica{Node: "n1", StoragePool: pool, NodeID: 0, Port: 7010, Minors: []int32{1010}},
				diskful("n2", 1, 7010, 1010))
			d, problems := Desired("n1", DesiredInput{Topology: testTopology(), Volumes: append(desiredVolumes(), bad)})
			require.Contains(t, problems, "pvc-bad")
			assert.ErrorContains(t, problems["pvc-bad"], "is not a pool of this node")
			assert.Len(t, problems, 1)
			names := []string{}
			for _, r := range d.Resources {
				names = append(names, r.Name)
			}
			assert.Equal(t, []string{"pvc-local", "pvc-three", "pvc-two"}, names, "the others are told")
		})
	}
}
