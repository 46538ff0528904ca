package placement

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	"github.com/piraeusctl/piraeusctl/internal/golden"
)

func nodesOf(v storagev1alpha1.StorageVolume, diskless bool) []string {
	var out []string
	for _, r := range v.Spec.Replicas {
		if r.Diskless == diskless {
			out = append(out, r.Node)
		}
	}
	return out
}

func TestPlaceRules(t *testing.T) {
	tests := []struct {
		name  string
		spec  func() *scenario
		check func(t *testing.T, res *Result)
	}{
		{
			name: "thick capacity is a hard limit",
			spec: func() *scenario {
				return testSpec([]storagev1alpha1.TopologyNode{
					testNode("a", "", thick("p", 10)), testNode("b", "", thick("p", 100)), testNode("c", "", thick("p", 100)),
				}, []storagev1alpha1.ResourceGroup{testGroup("g", 2, nil)}, testVolumes("g", 1, 50))
			},
			check: func(t *testing.T, res *Result) {
				assert.Equal(t, []string{"b", "c"}, nodesOf(res.Volumes[0], false))
				assert.Equal(t, []string{"a"}, nodesOf(res.Volumes[0], true), "a takes the tie-breaker")
			},
		},
		{
			name: "thin pools over-subscribe by the pool's ratio",
			spec: func() *scenario {
				s := testSpec([]storagev1alpha1.TopologyNode{testNode("a", "", thin("p", 10))},
					[]storagev1alpha1.ResourceGroup{testGroup("g", 1, nil)}, testVolumes("g", 3, 10))
				s.Nodes[0].StoragePools[0].Properties = map[string]string{OversubscriptionProperty: "2"}
				return s
			},
			check: func(t *testing.T, res *Result) {
				require.Len(t, res.Unplaced, 1, "10Gi × 2 holds two 10Gi volumes")
				assert.Equal(t, "pvc-g-0002", res.Unplaced[0].Volume)
				assert.Contains(t, strings.Join(res.Unplaced[0].Reasons, "; "), "0 of them have free space ≥ 10Gi")
			},
		},
		{
			name: "cluster ratio applies when the pool has none",
			spec: func() *scenario {
				s := testSpec([]storagev1alpha1.TopologyNode{testNode("a", "", thin("p", 10))},
					[]storagev1alpha1.ResourceGroup{testGroup("g", 1, nil)}, testVolumes("g", 2, 10))
				s.Properties = map[string]string{OversubscriptionProperty: "1"}
				return s
			},
			check: func(t *testing.T, res *Result) { require.Len(t, res.Unplaced, 1) },
		},
		{
			name: "unknown capacity balances by allocation",
			spec: func() *scenario {
				return testSpec([]storagev1alpha1.TopologyNode{
					testNode("a", "", thin("p", 0)), testNode("b", "", thin("p", 0)), testNode("c", "", thin("p", 0)),
				}, []storagev1alpha1.ResourceGroup{testGroup("g", 1, nil)}, testVolumes("g", 6, 1))
			},
			check: func(t *testing.T, res *Result) {
				count := map[string]int{}
				for _, v := range res.Volumes {
					count[v.Spec.Replicas[0].Node]++
				}
				assert.Equal(t, map[string]int{"a": 2, "b": 2, "c": 2}, count)
			},
		},
		{
			name: "replicasOnSame keeps replicas in one zone with room",
			spec: func() *scenario {
				g := testGroup("g", 2, nil)
				g.ReplicasOnSame = []string{zoneKey}
				return testSpec([]storagev1alpha1.TopologyNode{
					testNode("a", "z1", thin("p", 0)), testNode("b", "z2", thin("p", 0)), testNode("c", "z2", thin("p", 0)),
				}, []storagev1alpha1.ResourceGroup{g}, testVolumes("g", 4, 1))
			},
			check: func(t *testing.T, res *Result) {
				for _, v := range res.Volumes {
					assert.Equal(t, []string{"b", "c"}, nodesOf(v, false), v.Name)
				}
			},
		},
		{
			name: "replicasOnSame with a value pins it; property wins over label",
			spec: func() *scenario {
				g := testGroup("g", 1, nil)
				g.ReplicasOnSame = []string{"Aux/rack=r9"}
				s := testSpec([]storagev1alpha1.TopologyNode{
					testNode("a", "", thin("p", 0)), testNode("b", "", thin("p", 0)),
				}, []storagev1alpha1.ResourceGroup{g}, testVolumes("g", 3, 1))
				s.Nodes[0].Labels["rack"] = "r9"
				s.Nodes[0].Properties = map[string]string{"Aux/rack": "r1"}
				s.Nodes[1].Labels["rack"] = "r1"
				s.Nodes[1].Properties = map[string]string{"Aux/rack": "r9"}
				return s
			},
			check: func(t *testing.T, res *Result) {
				for _, v := range res.Volumes {
					assert.Equal(t, []string{"b"}, nodesOf(v, false))
				}
			},
		},
		{
			name: "nodeList and clientList",
			spec: func() *scenario {
				g := testGroup("g", 0, nil)
				g.NodeList = []string{"a", "c"}
				g.ClientList = []string{"b", "ghost"}
				return testSpec([]storagev1alpha1.TopologyNode{
					testNode("a", "", thin("p", 0)), testNode("b", "", thin("p", 0)), testNode("c", "", thin("p", 0)),
				}, []storagev1alpha1.ResourceGroup{g}, testVolumes("g", 1, 1))
			},
			check: func(t *testing.T, res *Result) {
				v := res.Volumes[0]
				assert.Equal(t, []string{"a", "c"}, nodesOf(v, false))
				assert.Equal(t, []string{"b"}, nodesOf(v, true))
				assert.False(t, v.Spec.Replicas[1].TieBreaker, "a clientList replica already breaks ties")
			},
		},
		{
			name: "disklessOnRemaining stops at 32 node ids",
			spec: func() *scenario {
				var nodes []storagev1alpha1.TopologyNode
				for i := 0; i < 40; i++ {
					nodes = append(nodes, testNode(string(rune('A'+i)), "", thin("p", 0)))
				}
				g := testGroup("g", 3, nil)
				g.DisklessOnRemaining = true
				return testSpec(nodes, []storagev1alpha1.ResourceGroup{g}, testVolumes("g", 1, 1))
			},
			check: func(t *testing.T, res *Result) {
				v := res.Volumes[0]
				assert.Len(t, v.Spec.Replicas, 32)
				assert.Len(t, nodesOf(v, true), 29)
			},
		},
		{
			name: "no tie-breaker without DRBD",
			spec: func() *scenario {
				g := testGroup("g", 2, nil)
				g.LayerList = []string{"storage"}
				return testSpec([]storagev1alpha1.TopologyNode{
					testNode("a", "", thin("p", 0)), testNode("b", "", thin("p", 0)), testNode("c", "", thin("p", 0)),
				}, []storagev1alpha1.ResourceGroup{g}, testVolumes("g", 1, 1))
			},
			check: func(t *testing.T, res *Result) { assert.Len(t, res.Volumes[0].Spec.Replicas, 2) },
		},
		{
			name: "a storage-only volume gets no DRBD port, minor or node ids",
			spec: func() *scenario {
				g := testGroup("g", 2, nil)
				g.LayerList = []string{"storage"}
				return testSpec([]storagev1alpha1.TopologyNode{
					testNode("a", "", thin("p", 0)), testNode("b", "", thin("p", 0)),
				}, []storagev1alpha1.ResourceGroup{g}, testVolumes("g", 2, 1))
			},
			check: func(t *testing.T, res *Result) {
				for _, v := range res.Volumes {
					for _, r := range v.Spec.Replicas {
						assert.Zero(t, r.NodeID, "%s on %s", v.Name, r.Node)
						assert.Zero(t, r.Port, "%s on %s", v.Name, r.Node)
						assert.Empty(t, r.Minors, "%s on %s", v.Name, r.Node)
					}
				}
			},
		},
		{
			name: "xReplicasOnDifferent fills a zone with X replicas before the next",
			spec: func() *scenario {
				g := testGroup("g", 3, nil)
				g.XReplicasOnDifferent = map[string]int32{"topology.kubernetes.io/zone": 2}
				return testSpec([]storagev1alpha1.TopologyNode{
					testNode("a1", "a", thin("p", 0)), testNode("a2", "a", thin("p", 0)), testNode("a3", "a", thin("p", 0)),
					testNode("b1", "b", thin("p", 0)), testNode("b2", "b", thin("p", 0)),
					testNode("c1", "c", thin("p", 0)),
				}, []storagev1alpha1.ResourceGroup{g}, testVolumes("g", 6, 1))
			},
			check: func(t *testing.T, res *Result) {
				for _, v := range res.Volumes {
					zones := map[string]int{}
					for _, r := range v.Spec.Replicas {
						if !r.Diskless {
							zones[r.Node[:1]]++
						}
					}
					counts := slices.Sorted(maps.Values(zones))
					assert.Equal(t, []int{1, 2}, counts, "%s: replicas per zone %v", v.Name, zones)
				}
			},
		},
		{
			name: "xReplicasOnDifferent that cannot be met says why",
			spec: func() *scenario {
				g := testGroup("g", 3, nil)
				g.XReplicasOnDifferent = map[string]int32{"topology.kubernetes.io/zone": 1}
				return testSpec([]storagev1alpha1.TopologyNode{
					testNode("a1", "a", thin("p", 0)), testNode("a2", "a", thin("p", 0)), testNode("b1", "b", thin("p", 0)),
				}, []storagev1alpha1.ResourceGroup{g}, testVolumes("g", 1, 1))
			},
			check: func(t *testing.T, res *Result) {
				require.Len(t, res.Unplaced, 1)
				assert.Contains(t, strings.Join(res.Unplaced[0].Reasons, "; "), "only 2 fit at most 1 per value of topology.kubernetes.io/zone among them (xReplicasOnDifferent)")
			},
		},
		{
			name: "doNotPlaceWithRegex avoids nodes holding matching volumes",
			spec: func() *scenario {
				g := testGroup("g", 1, nil)
				g.DoNotPlaceWithRegex = "^pvc-g-"
				return testSpec([]storagev1alpha1.TopologyNode{
					testNode("a", "", thin("p", 0)), testNode("b", "", thin("p", 0)),
				}, []storagev1alpha1.ResourceGroup{g}, testVolumes("g", 3, 1))
			},
			check: func(t *testing.T, res *Result) {
				require.Len(t, res.Unplaced, 1)
				assert.Contains(t, strings.Join(res.Unplaced[0].Reasons, "; "), "doNotPlaceWithRegex")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := tt.spec()
			res, err := place(spec, nil, Options{AllowUnplaced: true})
			require.NoError(t, err)
			checkInvariants(t, spec.with(res.Volumes))
			tt.check(t, res)
		})
	}
}

func TestPlaceCordonedNodeIsEvacuated(t *testing.T) {
	spec := threeNodes()
	first, err := place(spec, nil, DefaultOptions())
	require.NoError(t, err)

	spec.Nodes = append(spec.Nodes, testNode("node-d", "", thin("thin", 100)))
	spec.Nodes[1].StorageCordoned = true
	second, err := place(spec, first.Volumes, DefaultOptions())
	require.NoError(t, err)
	require.Len(t, second.Moves, 4)
	for i, m := range second.Moves {
		assert.Equal(t, Move{Volume: first.Volumes[i].Name, From: "node-b", To: "node-d", Why: "node is storage-cordoned"}, m)
		assert.Equal(t, []string{"node-a", "node-c", "node-d"}, nodesOf(second.Volumes[i], false))
	}

	// with nowhere to go, replicas stay on the cordoned node
	spec.Nodes = spec.Nodes[:3]
	third, err := place(spec, first.Volumes, DefaultOptions())
	require.NoError(t, err)
	assert.Empty(t, third.Moves)
	assert.Equal(t, first.Volumes[0].Spec.Replicas[1].Node, third.Volumes[0].Spec.Replicas[1].Node)
	assert.Contains(t, third.Volumes[0].Spec.Replicas[1].Reason, "kept on storage-cordoned node")
}

func TestPlaceLostPool(t *testing.T) {
	spec := threeNodes()
	first, err := place(spec, nil, DefaultOptions())
	require.NoError(t, err)
	spec.Nodes[0].StoragePools[0].Name = "renamed"
	spec.Nodes = append(spec.Nodes, testNode("node-d", "", thin("thin", 100)))
	second, err := place(spec, first.Volumes, DefaultOptions())
	require.NoError(t, err)
	require.NotEmpty(t, second.Moves)
	assert.Equal(t, "node no longer has pool thin", second.Moves[0].Why)
	assert.Equal(t, "node-d", second.Moves[0].To)
}

func TestPlaceUnplacedError(t *testing.T) {
	_, err := place(unplaceable(), nil, DefaultOptions())
	var ue *UnplacedError
	require.ErrorAs(t, err, &ue)
	assert.Contains(t, err.Error(), "volume pvc-spread-0000 (resource group spread): placed 2 of 3 diskful replicas: needs 3 nodes with pool thin")
	assert.Contains(t, err.Error(), "--allow-unplaced")
}

func TestPlaceAllocation(t *testing.T) {
	t.Run("ports are per node: each node can hold as many replicas as its range", func(t *testing.T) {
		spec := threeNodes()
		spec.Allocation.PortMax = 7002 // 3 ports per node
		spec.Nodes = append(spec.Nodes, testNode("node-d", "", thin("thin", 100)))
		spec.volumes = testVolumes("replicated", 4, 1) // 12 replicas on 4 nodes: 3 each
		res, err := place(spec, nil, DefaultOptions())
		require.NoError(t, err)
		checkInvariants(t, spec.with(res.Volumes))
	})
	t.Run("ports exhausted on a node", func(t *testing.T) {
		spec := threeNodes()
		spec.Allocation.PortMax = 7002
		_, err := place(spec, nil, DefaultOptions())
		var ae *AllocationError
		require.ErrorAs(t, err, &ae)
		assert.EqualError(t, err, "node node-a: no free DRBD port in 7000-7002 for volume pvc-replicated-0003: all 3 are in use; widen the range (LinstorCluster allocation)")
	})
	t.Run("minors exhausted", func(t *testing.T) {
		spec := threeNodes()
		spec.Allocation.MinorMin, spec.Allocation.MinorMax = 5, 5
		_, err := place(spec, nil, DefaultOptions())
		assert.EqualError(t, err, "node node-a: no free DRBD minor in 5-5 for volume pvc-replicated-0001: all 1 are in use; widen the range (LinstorCluster allocation)")
	})
	t.Run("one port of a node recorded for two volumes", func(t *testing.T) {
		spec := threeNodes()
		spec.volumes[1].Spec.Replicas = []storagev1alpha1.Replica{{Node: "node-a", StoragePool: "thin", Port: 7100}}
		spec.volumes[2].Spec.Replicas = []storagev1alpha1.Replica{{Node: "node-a", StoragePool: "thin", Port: 7100}}
		_, err := place(spec, nil, DefaultOptions())
		assert.EqualError(t, err, "DRBD port 7100 on node node-a is recorded for volume pvc-replicated-0002 but held by volume pvc-replicated-0001")
	})
	t.Run("one port on two nodes is fine", func(t *testing.T) {
		spec := threeNodes()
		spec.volumes[1].Spec.Replicas = []storagev1alpha1.Replica{{Node: "node-a", StoragePool: "thin", Port: 7100}}
		spec.volumes[2].Spec.Replicas = []storagev1alpha1.Replica{{Node: "node-b", StoragePool: "thin", Port: 7100}}
		res, err := place(spec, nil, DefaultOptions())
		require.NoError(t, err)
		checkInvariants(t, spec.with(res.Volumes))
	})
	t.Run("recorded numbers are kept; new replicas take the volume's number where it is free, else the lowest free", func(t *testing.T) {
		spec := threeNodes()
		spec.volumes[2].Spec.Replicas = []storagev1alpha1.Replica{{Node: "node-b", StoragePool: "thin", NodeID: 0, Port: 7000, Minors: []int32{1000}}}
		res, err := place(spec, nil, DefaultOptions())
		require.NoError(t, err)
		got := map[string]string{}
		for _, v := range res.Volumes {
			got[v.Name] = fmt.Sprint(numbersOf(v))
		}
		assert.Equal(t, map[string]string{
			"pvc-replicated-0000": "map[node-a:7000 [1000] node-b:7001 [1001] node-c:7000 [1000]]",
			"pvc-replicated-0001": "map[node-a:7001 [1001] node-b:7002 [1002] node-c:7001 [1001]]",
			"pvc-replicated-0002": "map[node-a:7002 [1002] node-b:7000 [1000] node-c:7002 [1002]]",
			"pvc-replicated-0003": "map[node-a:7003 [1003] node-b:7003 [1003] node-c:7003 [1003]]",
		}, got)
	})
	t.Run("defaults when the spec has no ranges", func(t *testing.T) {
		spec := threeNodes()
		spec.Allocation = storagev1alpha1.AllocationSettings{}
		res, err := place(spec, nil, DefaultOptions())
		require.NoError(t, err)
		assert.Equal(t, int32(DefaultPortMin), res.Volumes[0].Spec.Replicas[0].Port)
		assert.Equal(t, []int32{DefaultMinorMin}, res.Volumes[0].Spec.Replicas[0].Minors)
	})
	t.Run("NoNumbers leaves them to the caller", func(t *testing.T) {
		res, err := place(threeNodes(), nil, Options{NoNumbers: true})
		require.NoError(t, err)
		for _, r := range res.Volumes[0].Spec.Replicas {
			assert.Zero(t, r.Port)
			assert.Empty(t, r.Minors)
		}
	})
	t.Run("node ids of removed replicas are not reused at once", func(t *testing.T) {
		replicas := []storagev1alpha1.Replica{{Node: "a"}, {Node: "c"}, {Node: "d"}}
		conflicts, err := assignNodeIDs("v", replicas, map[string]int32{"a": 0, "b": 1, "c": 2})
		require.NoError(t, err)
		require.Empty(t, conflicts)
		assert.Equal(t, []int32{0, 2, 3}, []int32{replicas[0].NodeID, replicas[1].NodeID, replicas[2].NodeID})
	})
	t.Run("a bad previous node id is reported and never rewritten", func(t *testing.T) {
		replicas := []storagev1alpha1.Replica{{Node: "a"}, {Node: "b"}, {Node: "c"}, {Node: "d"}}
		conflicts, err := assignNodeIDs("v", replicas, map[string]int32{"a": 5, "b": 5, "c": 40})
		require.NoError(t, err)
		assert.Equal(t, []int32{5, 5, 40, 0}, []int32{replicas[0].NodeID, replicas[1].NodeID, replicas[2].NodeID, replicas[3].NodeID})
		require.Len(t, conflicts, 2)
		assert.Contains(t, conflicts[0], "the replica on b has DRBD node id 5")
		assert.Contains(t, conflicts[1], "the replica on c has DRBD node id 40")
	})
	t.Run("a volume with conflicting node ids is unplaced, the others are placed", func(t *testing.T) {
		spec := threeNodes()
		first, err := place(spec, nil, DefaultOptions())
		require.NoError(t, err)
		prev := first.Volumes
		prev[0].Spec.Replicas[1].NodeID = prev[0].Spec.Replicas[0].NodeID
		prev[0].Spec.Replicas[1].Port = 0 // so that the ports do not clash too
		res, err := place(spec, prev, Options{AllowUnplaced: true})
		require.NoError(t, err)
		require.Len(t, res.Unplaced, 1)
		assert.Equal(t, prev[0].Name, res.Unplaced[0].Volume)
		assert.Contains(t, strings.Join(res.Unplaced[0].Reasons, "; "), "it is not rewritten")
		assert.Equal(t, prev[0].Spec.Replicas[0].NodeID, res.Volumes[0].Spec.Replicas[1].NodeID)
	})
	t.Run("too many replicas", func(t *testing.T) {
		replicas := make([]storagev1alpha1.Replica, 33)
		for i := range replicas {
			replicas[i].Node = string(rune('A' + i))
		}
		_, err := assignNodeIDs("v", replicas, nil)
		assert.EqualError(t, err, "volume v has 33 replicas, more than the 32 DRBD node ids (0-31)")
	})
}

func TestPlaceInputErrors(t *testing.T) {
	_, err := Place(nil, nil, nil, DefaultOptions())
	require.Error(t, err)
	spec := threeNodes()
	spec.volumes[0].Spec.ResourceGroup = "missing"
	_, err = place(spec, nil, DefaultOptions())
	assert.EqualError(t, err, `volume pvc-replicated-0000: placement: resource group "missing" not found in the topology`)
	assert.False(t, errors.As(err, new(*UnplacedError)))
}

func TestPlaceDoesNotModifyInput(t *testing.T) {
	spec := zones3x3()
	before := spec.DeepCopy()
	_, err := place(spec, nil, DefaultOptions())
	require.NoError(t, err)
	assert.Equal(t, before, spec)
}

func TestWriteExplanation(t *testing.T) {
	res, err := place(nodeRemoved(), placed(zones3x3)(), DefaultOptions())
	require.NoError(t, err)
	var b strings.Builder
	require.NoError(t, res.WriteExplanation(&b))
	golden.Assert(t, golden.Path("explain-node-removed.txt"), b.String())
}
