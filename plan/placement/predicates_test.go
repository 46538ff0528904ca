package placement

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
)

// TestFiltersAreTheDecision: a node passes every filter diagnose reports
// exactly when pick may choose it (leaving aside replicasOnDifferent and
// replicasOnSame, which depend on the other replicas and which diagnose
// reports after the filters).
func TestFiltersAreTheDecision(t *testing.T) {
	nodes := []storagev1alpha1.TopologyNode{
		testNode("cordoned", "a", thin("thin", 100)),
		testNode("full", "a", thick("thick", 1)),
		testNode("no-zone", "", thin("thin", 100)),
		testNode("other-pool", "b", thin("other", 100)),
		testNode("ok-1", "b", thin("thin", 100)),
		testNode("ok-2", "c", thick("thick", 100)),
		testNode("holds-db", "c", thin("thin", 100)),
	}
	nodes[0].StorageCordoned = true
	group := testGroup("rg", 2, []string{"thin", "thick"}, zoneKey)
	group.DoNotPlaceWithRegex = "^db-"
	spec := testSpec(nodes, []storagev1alpha1.ResourceGroup{group})
	db := testVolume("db-0", "rg", 1)
	db.Spec.Replicas = []storagev1alpha1.Replica{{Node: "holds-db", StoragePool: "thin"}}
	spec.volumes = []storagev1alpha1.StorageVolume{db}
	p := &placer{c: newCluster(&spec.StorageTopologySpec, Options{}), groups: map[string]*storagev1alpha1.ResourceGroup{"rg": &spec.ResourceGroups[0]},
		indexes: map[string]*groupIndex{}}
	p.c.byName["holds-db"].volumes = []string{"db-0"}
	g, err := p.index("rg")
	require.NoError(t, err)
	v := testVolume("new", "rg", 10)
	sel := p.newSelection(g, &v, &volumeState{})

	var passing, eligible []string
	for _, n := range p.c.nodes {
		all := true
		for _, f := range nodeFilters {
			all = all && f.ok(g, n, sel)
		}
		if all {
			passing = append(passing, n.name)
		}
		for i := range g.cands {
			if c := &g.cands[i]; c.p.node == n && g.eligible(c, sel) {
				eligible = append(eligible, n.name)
				break
			}
		}
	}
	assert.Equal(t, []string{"ok-1", "ok-2"}, eligible)
	assert.Equal(t, eligible, passing)
}
