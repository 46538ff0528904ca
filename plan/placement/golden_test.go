package placement

import (
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	"github.com/piraeusctl/piraeusctl/internal/golden"
)

// goldenCase is one cluster whose placement is compared with testdata/golden/<name>.yaml.
type goldenCase struct {
	name     string
	spec     func() *scenario
	previous func() []storagev1alpha1.StorageVolume
}

func threeNodes() *scenario {
	return testSpec(
		[]storagev1alpha1.TopologyNode{
			testNode("node-a", "", thin("thin", 100)),
			testNode("node-b", "", thin("thin", 100)),
			testNode("node-c", "", thin("thin", 100)),
		},
		[]storagev1alpha1.ResourceGroup{testGroup("replicated", 3, []string{"thin"})},
		testVolumes("replicated", 4, 10),
	)
}

func zones3x3() *scenario {
	var nodes []storagev1alpha1.TopologyNode
	for _, z := range []string{"a", "b", "c"} {
		for i := 1; i <= 3; i++ {
			nodes = append(nodes, testNode("node-"+z+string(rune('0'+i)), "zone-"+z, thin("thin", 0)))
		}
	}
	return testSpec(nodes,
		[]storagev1alpha1.ResourceGroup{testGroup("spread", 3, []string{"thin"}, zoneKey)},
		testVolumes("spread", 6, 5),
	)
}

func mixedPools() *scenario {
	sameZone := testGroup("local-zone", 2, nil)
	sameZone.ReplicasOnSame = []string{zoneKey}
	return testSpec(
		[]storagev1alpha1.TopologyNode{
			testNode("fast-1", "z1", thin("nvme", 50), thick("hdd", 1000)),
			testNode("fast-2", "z1", thin("nvme", 50)),
			testNode("fast-3", "z2", thin("nvme", 50), thick("hdd", 1000)),
			testNode("slow-1", "z2", thick("hdd", 1000)),
			testNode("slow-2", "z2", thick("hdd", 200)),
		},
		[]storagev1alpha1.ResourceGroup{
			testGroup("bulk", 2, []string{"hdd"}),
			testGroup("fast", 2, []string{"nvme"}),
			sameZone,
		},
		testVolumes("bulk", 3, 300),
		testVolumes("fast", 2, 20),
		testVolumes("local-zone", 2, 1),
	)
}

func twoReplicaTieBreaker() *scenario {
	return testSpec(
		[]storagev1alpha1.TopologyNode{
			testNode("node-a", "z1", thin("thin", 0)),
			testNode("node-b", "z2", thin("thin", 0)),
			testNode("node-c", "z3"), // diskless only
			testNode("node-d", "z1", thin("thin", 0)),
		},
		[]storagev1alpha1.ResourceGroup{testGroup("two", 2, []string{"thin"}, zoneKey)},
		testVolumes("two", 3, 1),
	)
}

// nodeRemoved: the placement of zones3x3, fed back, after node-b2 is gone.
func nodeRemoved() *scenario {
	s := zones3x3()
	s.Nodes = removeNode(s.Nodes, "node-b2")
	return s
}

// nodeAdded: the placement of threeNodes, fed back, with a fourth node and a new volume.
func nodeAdded() *scenario {
	s := threeNodes()
	s.Nodes = append(s.Nodes, testNode("node-d", "", thin("thin", 100)))
	s.volumes = append(s.volumes, testVolume("pvc-new", "replicated", 10))
	return s
}

func unplaceable() *scenario {
	s := zones3x3()
	s.Nodes = removeNode(removeNode(removeNode(s.Nodes, "node-c1"), "node-c2"), "node-c3")
	s.volumes = s.volumes[:1]
	return s
}

func removeNode(nodes []storagev1alpha1.TopologyNode, name string) []storagev1alpha1.TopologyNode {
	var out []storagev1alpha1.TopologyNode
	for _, n := range nodes {
		if n.Name != name {
			out = append(out, n)
		}
	}
	return out
}

// placed returns the placement of a spec, for use as "previous".
func placed(spec func() *scenario) func() []storagev1alpha1.StorageVolume {
	return func() []storagev1alpha1.StorageVolume {
		res, err := place(spec(), nil, DefaultOptions())
		if err != nil {
			panic(err)
		}
		return res.Volumes
	}
}

// goldenVolume is what a golden file shows of a placed volume.
type goldenVolume struct {
	Name          string                    `json:"name"`
	ResourceGroup string                    `json:"resourceGroup"`
	Replicas      []storagev1alpha1.Replica `json:"replicas,omitempty"`
}

func goldenVolumes(vols []storagev1alpha1.StorageVolume) []goldenVolume {
	out := make([]goldenVolume, len(vols))
	for i, v := range vols {
		out[i] = goldenVolume{Name: v.Name, ResourceGroup: v.Spec.ResourceGroup, Replicas: v.Spec.Replicas}
	}
	return out
}

var goldenCases = []goldenCase{
	{name: "three-nodes", spec: threeNodes},
	{name: "zones-3x3", spec: zones3x3},
	{name: "mixed-pools", spec: mixedPools},
	{name: "two-replica-tie-breaker", spec: twoReplicaTieBreaker},
	{name: "node-removed", spec: nodeRemoved, previous: placed(zones3x3)},
	{name: "node-added", spec: nodeAdded, previous: placed(threeNodes)},
	{name: "unplaceable", spec: unplaceable},
}

func TestGoldenPlacements(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			var prev []storagev1alpha1.StorageVolume
			if tc.previous != nil {
				prev = tc.previous()
			}
			spec := tc.spec()
			res, err := place(spec, prev, Options{AllowUnplaced: true})
			require.NoError(t, err)
			checkInvariants(t, spec.with(res.Volumes))
			got, err := yaml.Marshal(struct {
				Volumes  []goldenVolume `json:"volumes"`
				Unplaced []Unplaced     `json:"unplaced,omitempty"`
				Moves    []Move         `json:"moves,omitempty"`
			}{goldenVolumes(res.Volumes), res.Unplaced, res.Moves})
			require.NoError(t, err)
			golden.Assert(t, golden.Path(tc.name+".yaml"), got)
		})
	}
}
