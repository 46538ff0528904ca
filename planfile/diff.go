package planfile

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/piraeusctl/piraeusctl/internal/objdiff"
)

// planSides head plan diffs: "--- old/<ID>", "+++ new/<ID>".
var planSides = objdiff.Sides{From: "old", To: "new"}

// Diff compares two plans object by object. Only objects that differ are
// returned: changed and added ones in the new plan's order, then removed
// ones in the old plan's order. An empty result means the plans are equal.
func Diff(old, new []*unstructured.Unstructured) ([]objdiff.ObjectDiff, error) {
	oldByID := make(map[string]*unstructured.Unstructured, len(old))
	for _, o := range old {
		oldByID[ObjectID(o)] = o
	}
	var out []objdiff.ObjectDiff
	seen := make(map[string]bool, len(new))
	add := func(id string, o, n *unstructured.Unstructured) error {
		a, err := objectText(o)
		if err != nil {
			return fmt.Errorf("diff %s: %w", id, err)
		}
		b, err := objectText(n)
		if err != nil {
			return fmt.Errorf("diff %s: %w", id, err)
		}
		if d := objdiff.Compare(id, planSides, a, b); d.Action != objdiff.Unchanged {
			out = append(out, d)
		}
		return nil
	}
	for _, n := range new {
		id := ObjectID(n)
		seen[id] = true
		if err := add(id, oldByID[id], n); err != nil {
			return nil, err
		}
	}
	for _, o := range old {
		if id := ObjectID(o); !seen[id] {
			if err := add(id, o, nil); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// objectText is the object's YAML, nil for no object.
func objectText(o *unstructured.Unstructured) ([]byte, error) {
	if o == nil {
		return nil, nil
	}
	return ObjectYAML(o)
}
