package apply

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// DecodeManifests decodes a stream (test fixtures) of YAML or JSON documents into objects.
// Empty documents are skipped and v1 Lists are flattened; every object must
// have apiVersion, kind and metadata.name.
func DecodeManifests(data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for doc := 1; ; doc++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("document %d: %w", doc, err)
		}
		if empty(raw) {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(raw); err != nil {
			return nil, fmt.Errorf("document %d: %w", doc, err)
		}
		objs, err := objectsOf(u)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", doc, err)
		}
		out = append(out, objs...)
	}
}

// empty reports a document without content (null or {}).
func empty(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || bytes.Equal(t, []byte("null")) || bytes.Equal(t, []byte("{}"))
}

// objectsOf validates one document, flattening a List.
func objectsOf(u *unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
	if u.IsList() {
		list, err := u.ToList()
		if err != nil {
			return nil, fmt.Errorf("list: %w", err)
		}
		var out []*unstructured.Unstructured
		for i := range list.Items {
			objs, err := objectsOf(&list.Items[i])
			if err != nil {
				return nil, fmt.Errorf("item %d: %w", i, err)
			}
			out = append(out, objs...)
		}
		return out, nil
	}
	if u.GetAPIVersion() == "" || u.GetKind() == "" {
		return nil, errors.New("apiVersion and kind are required")
	}
	if u.GetName() == "" {
		return nil, fmt.Errorf("%s: metadata.name is required", u.GetKind())
	}
	return []*unstructured.Unstructured{u}, nil
}
