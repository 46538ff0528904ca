package plan

import (
	"slices"
	"sort"

	corev1 "k8s.io/api/core/v1"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	piraeusv1 "github.com/piraeusctl/piraeusctl/api/v1"
)

// resolveNodeConnections returns, for every pair of satellite nodes that at
// least one LinstorNodeConnection selects, the merged connection settings.
// Connections are applied in name order; later ones win per property and path name.
func resolveNodeConnections(nodes []*corev1.Node, conns []located[piraeusv1.LinstorNodeConnection]) []storagev1alpha1.NodeConnection {
	if len(conns) == 0 {
		return nil
	}
	var out []storagev1alpha1.NodeConnection
	for i := 0; i < len(nodes); i++ {
		for j := i + 1; j < len(nodes); j++ {
			if c, ok := connectionFor(nodes[i], nodes[j], conns); ok {
				out = append(out, c)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].NodeA != out[j].NodeA {
			return out[i].NodeA < out[j].NodeA
		}
		return out[i].NodeB < out[j].NodeB
	})
	return out
}

func connectionFor(a, b *corev1.Node, conns []located[piraeusv1.LinstorNodeConnection]) (storagev1alpha1.NodeConnection, bool) {
	if b.Name < a.Name {
		a, b = b, a
	}
	c := storagev1alpha1.NodeConnection{NodeA: a.Name, NodeB: b.Name}
	props := map[string]string{}
	for _, lc := range conns {
		if !pairSelected(a, b, lc.obj.Spec.Selector) {
			continue
		}
		c.Sources = append(c.Sources, lc.obj.Name)
		for _, p := range lc.obj.Spec.Properties {
			props[p.Name] = p.Value
		}
		c.Paths = mergeByName(c.Paths, lc.obj.Spec.Paths, func(p piraeusv1.LinstorNodeConnectionPath) string { return p.Name })
	}
	if len(c.Sources) == 0 {
		return c, false
	}
	if len(props) > 0 {
		c.Properties = props
	}
	slices.SortFunc(c.Paths, func(x, y piraeusv1.LinstorNodeConnectionPath) int {
		if x.Name < y.Name {
			return -1
		}
		if x.Name > y.Name {
			return 1
		}
		return 0
	})
	return c, true
}

// pairSelected: no terms select every pair; otherwise any term whose
// requirements all hold.
func pairSelected(a, b *corev1.Node, terms []piraeusv1.SelectorTerm) bool {
	if len(terms) == 0 {
		return true
	}
	for _, t := range terms {
		if termMatches(a, b, t) {
			return true
		}
	}
	return false
}

func termMatches(a, b *corev1.Node, t piraeusv1.SelectorTerm) bool {
	for _, m := range t.MatchLabels {
		if !labelRequirementHolds(a, b, m) {
			return false
		}
	}
	return true
}

func labelRequirementHolds(a, b *corev1.Node, m piraeusv1.MatchLabelSelector) bool {
	av, aok := a.Labels[m.Key]
	bv, bok := b.Labels[m.Key]
	switch opOrDefault(m.Op) {
	case piraeusv1.MatchLabelSelectorOpExists:
		return aok && bok
	case piraeusv1.MatchLabelSelectorOpDoesNotExist:
		return !aok && !bok
	case piraeusv1.MatchLabelSelectorOpIn:
		return aok && bok && slices.Contains(m.Values, av) && slices.Contains(m.Values, bv)
	case piraeusv1.MatchLabelSelectorOpNotIn:
		return !(aok && slices.Contains(m.Values, av)) && !(bok && slices.Contains(m.Values, bv))
	case piraeusv1.MatchLabelSelectorOpSame:
		return aok && bok && av == bv
	case piraeusv1.MatchLabelSelectorOpNotSame:
		return aok && bok && av != bv
	}
	return false
}
