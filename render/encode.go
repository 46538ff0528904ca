package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// WriteYAML writes the plan as multi-document YAML, objects in plan order,
// keys sorted.
func (p *Plan) WriteYAML(w io.Writer) error {
	return writeYAML(w, p.Objects)
}

func writeYAML(w io.Writer, objs []*unstructured.Unstructured) error {
	y := newYAMLWriter(w)
	for i, o := range objs {
		if i > 0 {
			y.str("---\n")
		}
		y.document(o.Object)
	}
	if err := y.flush(); err != nil {
		return fmt.Errorf("write YAML: %w", err)
	}
	return nil
}

// ObjectYAML returns one object as YAML.
func ObjectYAML(o *unstructured.Unstructured) ([]byte, error) {
	var b bytes.Buffer
	if err := writeYAML(&b, []*unstructured.Unstructured{o}); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// WriteJSON writes the plan as one v1 List, indented, keys sorted.
func (p *Plan) WriteJSON(w io.Writer) error {
	items := make([]any, len(p.Objects))
	for i, o := range p.Objects {
		items[i] = o.Object
	}
	list := map[string]any{
		"apiVersion": "v1",
		"kind":       "List",
		"metadata":   map[string]any{},
		"items":      items,
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(list); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}
