package apply

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// ownedFieldsMatch reports whether applying desired would change nothing in
// live, without asking the server: the field set that manager last applied
// (from live's managedFields), projected onto live, must equal desired.
//
// It answers false whenever it cannot be sure (another API version, values
// the server normalises such as quantities, reordered lists); the caller
// then asks the server with a dry-run apply. It never answers true for an
// object that would change, because every field desired sets is compared with
// live, and every field manager owns but desired dropped shows as extra.
func ownedFieldsMatch(desired, live *unstructured.Unstructured, manager string) bool {
	entry := appliedEntry(live, manager)
	if entry == nil || entry.APIVersion != desired.GetAPIVersion() || entry.FieldsV1 == nil {
		return false
	}
	var set map[string]any
	if err := json.Unmarshal(entry.FieldsV1.Raw, &set); err != nil {
		return false
	}
	owned, _ := project(set, live.Object).(map[string]any)
	return sameJSON(ownedView(desired.Object), ownedView(owned))
}

// appliedEntry returns manager's Apply entry for the main resource.
func appliedEntry(obj *unstructured.Unstructured, manager string) *metav1.ManagedFieldsEntry {
	entries := obj.GetManagedFields()
	for i := range entries {
		e := &entries[i]
		if e.Manager == manager && e.Operation == metav1.ManagedFieldsOperationApply && e.Subresource == "" {
			return e
		}
	}
	return nil
}

// project keeps the parts of val that the field set (managedFields FieldsV1
// format: "f:name", "k:{key}", "v:value", "i:index", ".") names.
func project(set map[string]any, val any) any {
	switch v := val.(type) {
	case map[string]any:
		out := make(map[string]any, len(set))
		for key, sub := range set {
			name, ok := strings.CutPrefix(key, "f:")
			if !ok {
				continue
			}
			child, present := v[name]
			if !present {
				continue
			}
			out[name] = projectChild(sub, child)
		}
		return out
	case []any:
		out := make([]any, 0, len(v))
		for i, elem := range v {
			for key, sub := range set {
				if elementMatches(key, elem, i) {
					out = append(out, projectChild(sub, elem))
					break
				}
			}
		}
		return out
	default:
		return val
	}
}

// projectChild projects one child: a leaf of the field set owns the whole value.
func projectChild(sub any, child any) any {
	subset, _ := sub.(map[string]any)
	if len(subset) == 0 {
		return child
	}
	return project(subset, child)
}

// elementMatches reports whether the list element elem at index i is the one
// a field-set key names.
func elementMatches(key string, elem any, i int) bool {
	switch {
	case strings.HasPrefix(key, "k:"):
		var fields map[string]any
		if err := json.Unmarshal([]byte(key[2:]), &fields); err != nil {
			return false
		}
		m, ok := elem.(map[string]any)
		if !ok {
			return false
		}
		for k, want := range fields {
			if !sameJSON(want, m[k]) {
				return false
			}
		}
		return true
	case strings.HasPrefix(key, "v:"):
		var want any
		if err := json.Unmarshal([]byte(key[2:]), &want); err != nil {
			return false
		}
		return sameJSON(want, elem)
	case strings.HasPrefix(key, "i:"):
		n, err := strconv.Atoi(key[2:])
		return err == nil && n == i
	}
	return false
}

// ownedView drops what server-side apply does not track as owned fields:
// type and identity, status, and null values.
func ownedView(obj map[string]any) map[string]any {
	out, _ := dropNulls(obj).(map[string]any)
	if out == nil {
		return map[string]any{}
	}
	delete(out, "apiVersion")
	delete(out, "kind")
	delete(out, "status")
	if md, ok := out["metadata"].(map[string]any); ok {
		delete(md, "name")
		delete(md, "namespace")
		delete(md, "creationTimestamp")
		if len(md) == 0 {
			delete(out, "metadata")
		}
	}
	return out
}

// dropNulls returns a copy of v without null map values.
func dropNulls(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, child := range t {
			if child != nil {
				out[k] = dropNulls(child)
			}
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, child := range t {
			out[i] = dropNulls(child)
		}
		return out
	}
	return v
}

// sameJSON compares two values by their JSON encoding, so that 8080 decoded
// as int64 and as float64 are equal.
func sameJSON(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}
