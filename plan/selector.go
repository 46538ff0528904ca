package plan

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
)

// nodeMatcher decides whether a node is selected by a nodeSelector and a
// nodeAffinity, with the scheduler's semantics: both must match; an empty
// selector matches every node.
type nodeMatcher struct {
	selector labels.Selector
	affinity *nodeaffinity.LazyErrorNodeSelector
}

func newNodeMatcher(selector map[string]string, affinity *corev1.NodeSelector) *nodeMatcher {
	m := &nodeMatcher{selector: labels.SelectorFromSet(selector)}
	if affinity != nil {
		m.affinity = nodeaffinity.NewLazyErrorNodeSelector(affinity)
	}
	return m
}

// matches reports whether node is selected; an invalid affinity term is an error.
func (m *nodeMatcher) matches(node *corev1.Node) (bool, error) {
	if !m.selector.Matches(labels.Set(node.Labels)) {
		return false, nil
	}
	if m.affinity == nil {
		return true, nil
	}
	return m.affinity.Match(node)
}
