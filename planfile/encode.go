package planfile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// WriteYAML writes a plan's objects as multi-document YAML, in the order
// given, keys sorted.
func WriteYAML(w io.Writer, objs []*unstructured.Unstructured) error {
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
	if err := WriteYAML(&b, []*unstructured.Unstructured{o}); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// WriteJSON writes a plan's objects as one v1 List, indented, keys sorted.
func WriteJSON(w io.Writer, objs []*unstructured.Unstructured) error {
	items := make([]any, len(objs))
	for i, o := range objs {
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

// ObjectID names an object as group/version/Kind/namespace/name (the
// namespace left out for cluster-scoped objects): "apps/v1/DaemonSet/ns/name".
// Plan diffs head objects with it and export names files after it.
func ObjectID(o *unstructured.Unstructured) string {
	id := o.GetAPIVersion() + "/" + o.GetKind() + "/"
	if ns := o.GetNamespace(); ns != "" {
		id += ns + "/"
	}
	return id + o.GetName()
}
