package placement

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	piraeusv1 "github.com/piraeusctl/piraeusctl/api/v1"
)

// checkInvariants verifies what must hold for any placement.
func checkInvariants(t *testing.T, s *scenario) {
	t.Helper()
	nodes := map[string]*storagev1alpha1.TopologyNode{}
	for i := range s.Nodes {
		nodes[s.Nodes[i].Name] = &s.Nodes[i]
	}
	groups := map[string]*storagev1alpha1.ResourceGroup{}
	for i := range s.ResourceGroups {
		groups[s.ResourceGroups[i].Name] = &s.ResourceGroups[i]
	}
	ports, minors := map[string]string{}, map[string]string{} // node/number → volume
	used := map[string]int64{}                                // node/pool → bytes
	for _, v := range s.volumes {
		rg := groups[v.Spec.ResourceGroup]
		drbd := rg == nil || HasDRBD(rg)
		onNode, ids := map[string]bool{}, map[int32]bool{}
		var diskful []*storagev1alpha1.TopologyNode
		for _, r := range v.Spec.Replicas {
			checkNumbers(t, s, v, r, drbd, ports, minors)
			require.False(t, onNode[r.Node], "%s: two replicas on %s", v.Name, r.Node)
			onNode[r.Node] = true
			if drbd {
				require.False(t, ids[r.NodeID], "%s: node id %d twice", v.Name, r.NodeID)
				require.True(t, r.NodeID >= 0 && r.NodeID < MaxNodeIDs, "%s: node id %d", v.Name, r.NodeID)
				ids[r.NodeID] = true
			}
			require.NotEmpty(t, r.Reason, "%s on %s: no reason", v.Name, r.Node)
			n := nodes[r.Node]
			require.NotNil(t, n, "%s: replica on unknown node %s", v.Name, r.Node)
			if r.Diskless {
				require.Empty(t, r.StoragePool)
				continue
			}
			require.False(t, n.StorageCordoned && !strings.Contains(r.Reason, "cordoned"), "%s: new replica on cordoned %s", v.Name, r.Node)
			require.True(t, rg == nil || len(rg.StoragePools) == 0 || contains(rg.StoragePools, r.StoragePool), "%s: pool %s not allowed", v.Name, r.StoragePool)
			require.True(t, hasPool(n, r.StoragePool), "%s: node %s lacks pool %s", v.Name, r.Node, r.StoragePool)
			used[r.Node+"/"+r.StoragePool] += v.Spec.SizeBytes()
			diskful = append(diskful, n)
		}
		if rg != nil {
			checkKeys(t, v.Name, rg, diskful)
		}
	}
	for _, n := range s.Nodes {
		for _, p := range n.StoragePools {
			if p.CapacityBytes != nil && p.ProviderKind == piraeusv1.ProviderLVM {
				require.LessOrEqual(t, used[n.Name+"/"+p.Name], *p.CapacityBytes, "pool %s/%s over capacity", n.Name, p.Name)
			}
		}
	}
}

// checkNumbers verifies a replica's port and minors: in range and unique on
// its node with DRBD, absent without.
func checkNumbers(t *testing.T, s *scenario, v storagev1alpha1.StorageVolume, r storagev1alpha1.Replica, drbd bool, ports, minors map[string]string) {
	t.Helper()
	if !drbd {
		require.Zero(t, r.Port, "storage-only volume %s has a DRBD port", v.Name)
		require.Empty(t, r.Minors, "storage-only volume %s has DRBD minors", v.Name)
		return
	}
	require.GreaterOrEqual(t, r.Port, s.Allocation.PortMin, v.Name)
	require.LessOrEqual(t, r.Port, s.Allocation.PortMax, v.Name)
	key := fmt.Sprint(r.Node, "/", r.Port)
	require.NotContains(t, ports, key, "port %s of %s", key, v.Name)
	ports[key] = v.Name
	require.Len(t, r.Minors, len(v.Spec.Volumes), v.Name)
	for _, m := range r.Minors {
		require.GreaterOrEqual(t, m, s.Allocation.MinorMin, v.Name)
		require.LessOrEqual(t, m, s.Allocation.MinorMax, v.Name)
		key := fmt.Sprint(r.Node, "/", m)
		require.NotContains(t, minors, key, "minor %s of %s", key, v.Name)
		minors[key] = v.Name
	}
}

// checkKeys verifies replicasOnSame and replicasOnDifferent among diskful replicas.
func checkKeys(t *testing.T, volume string, rg *storagev1alpha1.ResourceGroup, diskful []*storagev1alpha1.TopologyNode) {
	t.Helper()
	value := func(n *storagev1alpha1.TopologyNode, key string) string {
		nn := &node{props: n.Properties, labels: n.Labels}
		v, ok := nn.value(key)
		require.True(t, ok, "%s: node %s has no %s", volume, n.Name, key)
		return v
	}
	for _, k := range rg.ReplicasOnDifferent {
		seen := map[string]bool{}
		for _, n := range diskful {
			v := value(n, k)
			require.False(t, seen[v], "%s: two replicas with %s=%s", volume, k, v)
			seen[v] = true
		}
	}
	for k, x := range rg.XReplicasOnDifferent {
		count := map[string]int32{}
		for _, n := range diskful {
			v := value(n, k)
			count[v]++
			require.LessOrEqual(t, count[v], x, "%s: more than %d replicas with %s=%s", volume, x, k, v)
		}
	}
	for _, k := range rg.ReplicasOnSame {
		key, pinned, hasPin := strings.Cut(k, "=")
		for _, n := range diskful {
			v := value(n, key)
			if hasPin {
				require.Equal(t, pinned, v, volume)
			} else {
				require.Equal(t, value(diskful[0], key), v, "%s: replicasOnSame %s", volume, key)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func hasPool(n *storagev1alpha1.TopologyNode, name string) bool {
	for _, p := range n.StoragePools {
		if p.Name == name {
			return true
		}
	}
	return false
}

// randomCluster builds a cluster of up to 30 nodes in up to 4 zones with
// random pools, capacities, cordons, groups and volumes.
func randomCluster(rng *rand.Rand) *scenario {
	nNodes := 3 + rng.Intn(28)
	zones := 1 + rng.Intn(4)
	var nodes []storagev1alpha1.TopologyNode
	for i := 0; i < nNodes; i++ {
		var pools []poolSpec
		if rng.Intn(5) > 0 {
			pools = append(pools, thin("thin", int64(rng.Intn(3))*100))
		}
		if rng.Intn(3) == 0 {
			pools = append(pools, thick("thick", 50+int64(rng.Intn(200))))
		}
		n := testNode(fmt.Sprintf("n%02d", i), fmt.Sprintf("z%d", rng.Intn(zones)), pools...)
		n.Labels["rack"] = fmt.Sprintf("r%d", rng.Intn(3))
		n.StorageCordoned = rng.Intn(12) == 0
		nodes = append(nodes, n)
	}
	groups := []storagev1alpha1.ResourceGroup{
		testGroup("g1", 1+int32(rng.Intn(3)), []string{"thin"}),
		testGroup("g2", 2, nil, zoneKey),
		testGroup("g3", 1+int32(rng.Intn(3)), []string{"thick", "thin"}),
	}
	groups[2].ReplicasOnSame = []string{"Aux/topology/rack"}
	groups[0].DisklessOnRemaining = rng.Intn(4) == 0
	var vols [][]storagev1alpha1.StorageVolume
	for _, g := range groups {
		vols = append(vols, testVolumes(g.Name, rng.Intn(15), 1+int64(rng.Intn(40))))
	}
	return testSpec(nodes, groups, vols...)
}

func TestPropertyInvariants(t *testing.T) {
	for seed := int64(1); seed <= 300; seed++ {
		rng := rand.New(rand.NewSource(seed))
		spec := randomCluster(rng)
		res, err := place(spec, nil, Options{AllowUnplaced: true})
		require.NoError(t, err, "seed %d", seed)
		checkInvariants(t, spec.with(res.Volumes))
		unplaced := map[string]bool{}
		for _, u := range res.Unplaced {
			unplaced[u.Volume] = true
			require.NotEmpty(t, u.Reasons, "seed %d", seed)
		}
		for _, v := range res.Volumes {
			if !unplaced[v.Name] {
				require.Equal(t, int(groupOf(spec, v.Spec.ResourceGroup).PlaceCount), countDiskful(v), "seed %d %s", seed, v.Name)
			}
		}

		// identical across runs and input orders
		shuffled := spec.DeepCopy()
		rng.Shuffle(len(shuffled.Nodes), func(i, j int) { shuffled.Nodes[i], shuffled.Nodes[j] = shuffled.Nodes[j], shuffled.Nodes[i] })
		rng.Shuffle(len(shuffled.volumes), func(i, j int) { shuffled.volumes[i], shuffled.volumes[j] = shuffled.volumes[j], shuffled.volumes[i] })
		rng.Shuffle(len(shuffled.ResourceGroups), func(i, j int) {
			shuffled.ResourceGroups[i], shuffled.ResourceGroups[j] = shuffled.ResourceGroups[j], shuffled.ResourceGroups[i]
		})
		res2, err := place(shuffled, nil, Options{AllowUnplaced: true})
		require.NoError(t, err)
		require.Equal(t, res.Volumes, res2.Volumes, "seed %d: order changed the placement", seed)
		require.Equal(t, res.Unplaced, res2.Unplaced)
	}
}

func TestPropertyAddingNodeMovesNothing(t *testing.T) {
	for seed := int64(1); seed <= 200; seed++ {
		rng := rand.New(rand.NewSource(seed))
		spec := randomCluster(rng)
		first, err := place(spec, nil, Options{AllowUnplaced: true})
		require.NoError(t, err)

		grown := spec.DeepCopy()
		grown.Nodes = append(grown.Nodes, testNode("zz-new", "z0", thin("thin", 1000), thick("thick", 1000)))
		grown.volumes = append(grown.volumes, testVolumes("g2", 3, 1)...)
		for i := range grown.volumes {
			grown.volumes[i].Name += "-x" // the new volumes have new names
			if i >= len(spec.volumes) {
				continue
			}
			grown.volumes[i].Name = spec.volumes[i].Name
		}
		second, err := place(grown, first.Volumes, Options{AllowUnplaced: true})
		require.NoError(t, err)
		checkInvariants(t, grown.with(second.Volumes))
		require.Empty(t, second.Moves, "seed %d", seed)
		after := volumesByName(second.Volumes)
		for _, v := range first.Volumes {
			got := after[v.Name]
			now := numbersOf(got)
			for node, nums := range numbersOf(v) {
				if now[node] != "" { // a tie-breaker may go to the new node
					require.Equal(t, nums, now[node], "seed %d %s: numbers on %s kept", seed, v.Name, node)
				}
			}
			require.Subset(t, diskfulKeys(got), diskfulKeys(v), "seed %d %s: existing replica moved", seed, v.Name)
		}
	}
}

func TestPropertyRemovingNodeMovesOnlyItsReplicas(t *testing.T) {
	for seed := int64(1); seed <= 200; seed++ {
		rng := rand.New(rand.NewSource(seed))
		spec := randomCluster(rng)
		first, err := place(spec, nil, Options{AllowUnplaced: true})
		require.NoError(t, err)
		gone := spec.Nodes[rng.Intn(len(spec.Nodes))].Name

		shrunk := spec.DeepCopy()
		shrunk.Nodes = removeNode(shrunk.Nodes, gone)
		second, err := place(shrunk, first.Volumes, Options{AllowUnplaced: true})
		require.NoError(t, err)
		checkInvariants(t, shrunk.with(second.Volumes))
		after := volumesByName(second.Volumes)
		for _, v := range first.Volumes {
			got := after[v.Name]
			before, now := numbersOf(v), numbersOf(got)
			for node, nums := range before {
				if node != gone && now[node] != "" {
					require.Equal(t, nums, now[node], "seed %d %s: numbers on %s kept", seed, v.Name, node)
				}
			}
			ids := map[string]int32{}
			for _, r := range got.Spec.Replicas {
				ids[r.Node] = r.NodeID
			}
			for _, r := range v.Spec.Replicas {
				if r.Node == gone || r.Diskless {
					continue
				}
				require.Contains(t, diskfulKeys(got), r.Node+"/"+r.StoragePool, "seed %d %s: replica on %s moved although only %s left", seed, v.Name, r.Node, gone)
				require.Equal(t, r.NodeID, ids[r.Node], "seed %d %s: node id changed", seed, v.Name)
			}
		}
		for _, m := range second.Moves {
			require.Equal(t, gone, m.From, "seed %d", seed)
		}
	}
}

func groupOf(s *scenario, name string) *storagev1alpha1.ResourceGroup {
	for i := range s.ResourceGroups {
		if s.ResourceGroups[i].Name == name {
			return &s.ResourceGroups[i]
		}
	}
	return nil
}

func countDiskful(v storagev1alpha1.StorageVolume) int {
	n := 0
	for _, r := range v.Spec.Replicas {
		if !r.Diskless {
			n++
		}
	}
	return n
}

func diskfulKeys(v storagev1alpha1.StorageVolume) []string {
	var out []string
	for _, r := range v.Spec.Replicas {
		if !r.Diskless {
			out = append(out, r.Node+"/"+r.StoragePool)
		}
	}
	return out
}

func volumesByName(vols []storagev1alpha1.StorageVolume) map[string]storagev1alpha1.StorageVolume {
	m := map[string]storagev1alpha1.StorageVolume{}
	for _, v := range vols {
		m[v.Name] = v
	}
	return m
}

// numbersOf maps node → port and node → minors of a volume's replicas.
func numbersOf(v storagev1alpha1.StorageVolume) map[string]string {
	m := map[string]string{}
	for _, r := range v.Spec.Replicas {
		m[r.Node] = fmt.Sprint(r.Port, r.Minors)
	}
	return m
}
