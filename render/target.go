package render

import (
	"fmt"
	"regexp"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	piraeusv1 "github.com/piraeusctl/piraeusctl/api/v1"
)

// targetMatcher selects objects as a kustomize patch target does: every
// given condition must hold; name and namespace are anchored regular
// expressions; label and annotation selectors use label-selector syntax.
type targetMatcher struct {
	group, version, kind string
	name, namespace      *regexp.Regexp
	labels, annotations  labels.Selector
}

func newTargetMatcher(s *piraeusv1.Selector) (*targetMatcher, error) {
	m := &targetMatcher{group: s.Group, version: s.Version, kind: s.Kind}
	var err error
	if m.name, err = anchored(s.Name); err != nil {
		return nil, fmt.Errorf("target.name: %w", err)
	}
	if m.namespace, err = anchored(s.Namespace); err != nil {
		return nil, fmt.Errorf("target.namespace: %w", err)
	}
	if s.LabelSelector != "" {
		if m.labels, err = labels.Parse(s.LabelSelector); err != nil {
			return nil, fmt.Errorf("target.labelSelector: %w", err)
		}
	}
	if s.AnnotationSelector != "" {
		if m.annotations, err = labels.Parse(s.AnnotationSelector); err != nil {
			return nil, fmt.Errorf("target.annotationSelector: %w", err)
		}
	}
	return m, nil
}

func anchored(expr string) (*regexp.Regexp, error) {
	if expr == "" {
		return nil, nil
	}
	return regexp.Compile("^(?:" + expr + ")$")
}

func (m *targetMatcher) matches(u *unstructured.Unstructured) bool {
	gv, err := schema.ParseGroupVersion(u.GetAPIVersion())
	if err != nil {
		return false
	}
	switch {
	case m.group != "" && m.group != gv.Group,
		m.version != "" && m.version != gv.Version,
		m.kind != "" && m.kind != u.GetKind(),
		m.name != nil && !m.name.MatchString(u.GetName()),
		m.namespace != nil && !m.namespace.MatchString(u.GetNamespace()),
		m.labels != nil && !m.labels.Matches(labels.Set(u.GetLabels())),
		m.annotations != nil && !m.annotations.Matches(labels.Set(u.GetAnnotations())):
		return false
	}
	return true
}

// selectTargets returns the indexes of the objects the matcher selects.
func (m *targetMatcher) selectTargets(objs []*unstructured.Unstructured) []int {
	var out []int
	for i, o := range objs {
		if m.matches(o) {
			out = append(out, i)
		}
	}
	return out
}

func regexpQuote(s string) string { return regexp.QuoteMeta(s) }
