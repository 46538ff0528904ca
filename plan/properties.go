package plan

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	piraeusv1 "github.com/piraeusctl/piraeusctl/api/v1"
)

// fieldRefPattern parses the nodeFieldRef forms upstream supports:
// metadata.name, metadata.uid, metadata.labels['key'], metadata.annotations['key'].
var fieldRefPattern = regexp.MustCompile(`^metadata\.(name|uid|labels|annotations)(?:\['([^']*)'\])?$`)

// nodeFieldRef is a parsed nodeFieldRef.
type nodeFieldRef struct {
	field string // name, uid, labels, annotations
	key   string // for labels and annotations; may end in '*'
}

// parseNodeFieldRef checks and parses a nodeFieldRef; wildcard keys are
// allowed only when expand is true.
func parseNodeFieldRef(ref string, expand bool) (nodeFieldRef, error) {
	m := fieldRefPattern.FindStringSubmatch(ref)
	if m == nil {
		return nodeFieldRef{}, fmt.Errorf("expected metadata.name, metadata.uid, metadata.labels['<key>'] or metadata.annotations['<key>'], found %q", ref)
	}
	r := nodeFieldRef{field: m[1], key: m[2]}
	isMap := r.field == "labels" || r.field == "annotations"
	switch {
	case isMap && !strings.Contains(ref, "["):
		return r, fmt.Errorf("expected a key: metadata.%s['<key>'], found %q", r.field, ref)
	case !isMap && strings.Contains(ref, "["):
		return r, fmt.Errorf("metadata.%s takes no key, found %q", r.field, ref)
	case !expand && strings.Contains(r.key, "*"):
		return r, fmt.Errorf("wildcard keys need expandFrom, found %q in valueFrom", ref)
	case strings.Contains(strings.TrimSuffix(r.key, "*"), "*"):
		return r, fmt.Errorf("a wildcard may only end the key, found %q", ref)
	}
	return r, nil
}

// fieldMatch is one key and value a nodeFieldRef selects; for a wildcard
// reference the key is the part the wildcard matched.
type fieldMatch struct{ key, value string }

// resolve returns the node values the reference selects, sorted by key.
func (r nodeFieldRef) resolve(node *corev1.Node) []fieldMatch {
	switch r.field {
	case "name":
		return []fieldMatch{{key: "name", value: node.Name}}
	case "uid":
		return []fieldMatch{{key: "uid", value: string(node.UID)}}
	}
	src := node.Labels
	if r.field == "annotations" {
		src = node.Annotations
	}
	prefix, wildcard := strings.CutSuffix(r.key, "*")
	var out []fieldMatch
	for k, v := range src {
		switch {
		case wildcard && strings.HasPrefix(k, prefix):
			// $1 is what the wildcard matched, as upstream's examples use it.
			out = append(out, fieldMatch{key: strings.TrimPrefix(k, prefix), value: v})
		case !wildcard && k == r.key:
			out = append(out, fieldMatch{key: k, value: v})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

// resolveNodeProperties computes the properties of a node from the merged
// list; properties set later in the list win.
func resolveNodeProperties(props []piraeusv1.LinstorNodeProperty, node *corev1.Node) map[string]string {
	out := map[string]string{}
	for _, p := range props {
		for k, v := range resolveNodeProperty(p, node) {
			out[k] = v
		}
	}
	return out
}

// resolveNodeProperty returns the properties one entry sets (none when
// optional and empty). The entry has been validated.
func resolveNodeProperty(p piraeusv1.LinstorNodeProperty, node *corev1.Node) map[string]string {
	switch {
	case p.ValueFrom != nil:
		ref, _ := parseNodeFieldRef(p.ValueFrom.NodeFieldRef, false)
		v := ""
		if m := ref.resolve(node); len(m) > 0 {
			v = m[0].value
		}
		return optionalProperty(p, p.Name, v)
	case p.ExpandFrom != nil:
		return expandProperty(p, node)
	}
	return optionalProperty(p, p.Name, p.Value)
}

func optionalProperty(p piraeusv1.LinstorNodeProperty, name, value string) map[string]string {
	if p.Optional && value == "" {
		return nil
	}
	return map[string]string{name: value}
}

// expandProperty implements expandFrom: one property per match when a
// nameTemplate is given, else one property with the values joined.
func expandProperty(p piraeusv1.LinstorNodeProperty, node *corev1.Node) map[string]string {
	e := p.ExpandFrom
	ref, _ := parseNodeFieldRef(e.NodeFieldRef, true)
	matches := ref.resolve(node)
	render := func(tmpl string, m fieldMatch) string {
		return strings.NewReplacer("$1", m.key, "$2", m.value).Replace(tmpl)
	}
	valueTmpl := e.ValueTemplate
	if valueTmpl == "" {
		valueTmpl = "$2"
	}
	if e.NameTemplate != "" {
		out := map[string]string{}
		for _, m := range matches {
			for k, v := range optionalProperty(p, p.Name+render(e.NameTemplate, m), render(valueTmpl, m)) {
				out[k] = v
			}
		}
		return out
	}
	values := make([]string, 0, len(matches))
	for _, m := range matches {
		values = append(values, render(valueTmpl, m))
	}
	return optionalProperty(p, p.Name, strings.Join(values, e.Delimiter))
}
