package apply

import (
	"maps"
	"reflect"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// fieldDepth is how deep ChangedFields names a path: deep enough to say
// spec.template.spec.containers, short enough for an Event.
const fieldDepth = 5

// daemonSetGenerationAnnotation is written by the API server on every
// DaemonSet template change: not a field anyone sets.
const daemonSetGenerationAnnotation = "deprecated.daemonset.template.generation"

// ChangedFields lists, sorted, the paths where two versions of an object
// differ, down to fieldDepth levels (lists count as one value), leaving out
// what the server manages: status and metadata other than labels and
// annotations.
func ChangedFields(before, after *unstructured.Unstructured) []string {
	var out []string
	a, b := comparable(before), comparable(after)
	walkChanged(a, b, nil, &out)
	sort.Strings(out)
	return out
}

func comparable(o *unstructured.Unstructured) map[string]any {
	if o == nil {
		return map[string]any{}
	}
	out := make(map[string]any, len(o.Object))
	for k, v := range o.Object {
		switch k {
		case "status", "apiVersion", "kind":
		case "metadata":
			md, _ := v.(map[string]any)
			ann, _ := md["annotations"].(map[string]any)
			if _, ok := ann[daemonSetGenerationAnnotation]; ok {
				ann = maps.Clone(ann)
				delete(ann, daemonSetGenerationAnnotation)
			}
			out[k] = map[string]any{"labels": md["labels"], "annotations": ann}
		default:
			out[k] = v
		}
	}
	return out
}

func walkChanged(a, b any, path []string, out *[]string) {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if !aok || !bok || len(path) >= fieldDepth {
		if !sameJSON(a, b) {
			*out = append(*out, strings.Join(path, "."))
		}
		return
	}
	keys := map[string]bool{}
	for k := range am {
		keys[k] = true
	}
	for k := range bm {
		keys[k] = true
	}
	for k := range keys {
		if reflect.DeepEqual(am[k], bm[k]) {
			continue
		}
		walkChanged(am[k], bm[k], append(append([]string(nil), path...), k), out)
	}
}
