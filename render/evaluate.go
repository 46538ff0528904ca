package render

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
)

// templateOutput is what one component template returned.
type templateOutput struct {
	Template string `json:"template"`
	Objects  any    `json:"objects"`
}

// evaluate runs every component template in one VM evaluation and decodes
// the objects.
func evaluate(ctx context.Context, src *templateSource, maxStack int, in *Input) ([]*unstructured.Unstructured, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	names, err := src.components()
	if err != nil {
		return nil, err
	}
	input, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("encode template input: %w", err)
	}
	vm := newVM(src, maxStack)
	vm.TLACode("input", string(input))
	out, err := vm.EvaluateAnonymousSnippet("render.jsonnet", entrySnippet(names))
	if err != nil {
		return nil, fmt.Errorf("evaluate templates: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var results []templateOutput
	if err := utiljson.Unmarshal([]byte(out), &results); err != nil {
		return nil, fmt.Errorf("decode template output: %w", err)
	}
	return collectObjects(results)
}

// entrySnippet calls every component with the input.
func entrySnippet(names []string) string {
	var b strings.Builder
	b.WriteString("function(input) [\n")
	for _, n := range names {
		q, _ := json.Marshal(n)
		fmt.Fprintf(&b, "  { template: %s, objects: (import %s)(input) },\n", q, q)
	}
	b.WriteString("]\n")
	return b.String()
}

func collectObjects(results []templateOutput) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	for _, r := range results {
		list, ok := r.Objects.([]any)
		if !ok {
			return nil, fmt.Errorf("template %s: want an array of objects, got %T", r.Template, r.Objects)
		}
		for i, o := range list {
			m, ok := o.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("template %s: object %d: want an object, got %T", r.Template, i, o)
			}
			u := &unstructured.Unstructured{Object: m}
			if u.GetAPIVersion() == "" || u.GetKind() == "" || u.GetName() == "" {
				return nil, fmt.Errorf("template %s: object %d: apiVersion, kind and metadata.name are required", r.Template, i)
			}
			objs = append(objs, u)
		}
	}
	return objs, nil
}
