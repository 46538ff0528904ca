package plan

import (
	"encoding/json"
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"
)

// Patch kinds, told apart as kustomize does: a list of operations is a JSON
// 6902 patch, an object a strategic merge patch.
const (
	PatchStrategicMerge = "strategic"
	PatchJSON6902       = "json6902"
)

// DecodePatch parses a patch written as YAML or JSON and tells its kind; kind
// is "" when the patch is neither an object nor a list. doc is the patch as
// JSON and body its decoded value. The validation here and the patching in
// render share it, so both read a patch the same way.
func DecodePatch(patch string) (kind string, doc []byte, body any, err error) {
	doc, err = yaml.YAMLToJSON([]byte(patch))
	if err != nil {
		return "", nil, nil, err
	}
	if err := json.Unmarshal(doc, &body); err != nil {
		return "", nil, nil, err
	}
	switch body.(type) {
	case []any:
		kind = PatchJSON6902
	case map[string]any:
		kind = PatchStrategicMerge
	}
	return kind, doc, body, nil
}

// patchKind checks that a patch is a strategic merge or JSON 6902 patch.
func patchKind(patch string) (string, error) {
	kind, _, _, err := DecodePatch(patch)
	if err != nil {
		msg := strings.TrimPrefix(strings.TrimPrefix(err.Error(), "error converting YAML to JSON: "), "yaml: ")
		return "", fmt.Errorf("expected a YAML or JSON patch (%s, counting lines within the patch)", msg)
	}
	if kind == "" {
		return "", fmt.Errorf("expected an object (strategic merge patch) or a list of operations (JSON 6902 patch)")
	}
	return kind, nil
}
