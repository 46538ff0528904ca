package render

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// NodeAnnotation marks the objects that belong to one node's satellite; the
// satellite configurations that select the node patch exactly these.
const NodeAnnotation = "storage.piraeus.io/node"

// objectGroups splits rendered objects into cluster-level objects and
// per-node satellite objects, keeping their order.
type objectGroups struct {
	cluster []*unstructured.Unstructured
	nodes   map[string][]*unstructured.Unstructured
	// order of first appearance of each node, for flatten.
	order []string
}

func groupByNode(objs []*unstructured.Unstructured) *objectGroups {
	g := &objectGroups{nodes: map[string][]*unstructured.Unstructured{}}
	for _, o := range objs {
		node, ok := o.GetAnnotations()[NodeAnnotation]
		if !ok {
			g.cluster = append(g.cluster, o)
			continue
		}
		if _, seen := g.nodes[node]; !seen {
			g.order = append(g.order, node)
		}
		g.nodes[node] = append(g.nodes[node], o)
	}
	return g
}

func (g *objectGroups) flatten() []*unstructured.Unstructured {
	out := append([]*unstructured.Unstructured(nil), g.cluster...)
	for _, n := range g.order {
		out = append(out, g.nodes[n]...)
	}
	return out
}
