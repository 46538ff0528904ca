package plan

import (
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"
)

// patchKind tells a strategic merge patch ("strategic") from a JSON 6902
// patch ("json6902"), as kustomize does: a list is a JSON patch.
func patchKind(patch string) (string, error) {
	var v any
	if err := yaml.Unmarshal([]byte(patch), &v); err != nil {
		msg := strings.TrimPrefix(strings.TrimPrefix(err.Error(), "error converting YAML to JSON: "), "yaml: ")
		return "", fmt.Errorf("expected a YAML or JSON patch (%s, counting lines within the patch)", msg)
	}
	switch v.(type) {
	case []any:
		return "json6902", nil
	case map[string]any:
		return "strategic", nil
	}
	return "", fmt.Errorf("expected an object (strategic merge patch) or a list of operations (JSON 6902 patch)")
}
