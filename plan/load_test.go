package plan_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/plan"
	"github.com/piraeusctl/piraeusctl/plan/plantest"
)

func loadExamples(t *testing.T) []plan.Source {
	t.Helper()
	srcs, _, err := plan.ReadSources(t.Context(), []string{"../examples"}, nil)
	require.NoError(t, err)
	require.NotEmpty(t, srcs)
	return srcs
}

func modelJSON(t *testing.T, srcs []plan.Source) string {
	t.Helper()
	m, err := plan.Load(t.Context(), srcs, plan.LoadOptions{})
	require.NoError(t, err)
	b, err := json.Marshal(m)
	require.NoError(t, err)
	return string(b)
}

// splitDocuments turns sources into one source per YAML document, so that
// document order can be shuffled too.
func splitDocuments(srcs []plan.Source) []plan.Source {
	var out []plan.Source
	for _, s := range srcs {
		for i, doc := range strings.Split(string(s.Data), "\n---\n") {
			out = append(out, plan.Source{Name: s.Name + "#" + string(rune('a'+i)), Data: []byte(doc)})
		}
	}
	return out
}

func TestLoadIsIndependentOfFileAndDocumentOrder(t *testing.T) {
	srcs := splitDocuments(loadExamples(t))
	want := modelJSON(t, srcs)
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 20; i++ {
		shuffled := append([]plan.Source(nil), srcs...)
		rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		require.Equal(t, want, modelJSON(t, shuffled), "shuffle %d", i)
	}
}

func TestLoadExampleTopology(t *testing.T) {
	m, err := plan.Load(t.Context(), loadExamples(t), plan.LoadOptions{})
	require.NoError(t, err)
	require.Equal(t, plan.DefaultNamespace, m.Namespace)
	require.Len(t, m.Satellites, 3)
	nodes := m.Topology.Spec.Nodes
	require.Len(t, nodes, 3)
	require.Equal(t, "eu-central-b", nodes[1].Properties["Aux/rack"])
	require.Equal(t, "worker-2", nodes[1].Properties["Aux/topology/linbit.com/hostname"])
	require.Len(t, nodes[0].StoragePools, 2)
	require.Equal(t, "thin", nodes[0].StoragePools[1].Name)
	require.EqualValues(t, 500<<30, *nodes[0].StoragePools[1].CapacityBytes)
	// cross-zone connection: every pair, since all zones differ
	require.Len(t, m.Topology.Spec.NodeConnections, 3)
	require.Equal(t, "C", m.Topology.Spec.NodeConnections[0].Properties["DrbdOptions/Net/protocol"])
	require.Len(t, m.Volumes, 2)
}

func TestLoadWithoutClusterUsesDefaults(t *testing.T) {
	src := plan.Source{Name: "n.yaml", Data: []byte("apiVersion: v1\nkind: Node\nmetadata:\n  name: a\n")}
	m, err := plan.Load(t.Context(), []plan.Source{src}, plan.LoadOptions{Namespace: "storage"})
	require.NoError(t, err)
	require.Equal(t, "storage", m.Namespace)
	require.Equal(t, plan.DefaultClusterName, m.Cluster.Name)
	require.Len(t, m.Satellites, 1, "an empty LinstorCluster selects every node")
}

func TestLoadCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := plan.Load(ctx, loadExamples(t), plan.LoadOptions{})
	require.ErrorIs(t, err, context.Canceled)
}

func TestLoadGeneratedCluster(t *testing.T) {
	m, err := plan.Load(t.Context(), plantest.Cluster(plantest.ClusterOptions{Nodes: 12, Claims: 5}), plan.LoadOptions{})
	require.NoError(t, err)
	require.Len(t, m.Topology.Spec.Nodes, 12)
	require.Len(t, m.Volumes, 5)
}

func BenchmarkLoad(b *testing.B) {
	schemas, err := plan.NewSchemas()
	require.NoError(b, err)
	for _, n := range []int{10, 100, 1000} {
		srcs := plantest.Cluster(plantest.ClusterOptions{Nodes: n})
		b.Run(fmt.Sprintf("%d-nodes", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, err := plan.Load(b.Context(), srcs, plan.LoadOptions{Schemas: schemas})
				require.NoError(b, err)
			}
		})
	}
}
