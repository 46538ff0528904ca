package plan

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
	sigsjson "sigs.k8s.io/json"
)

// typeErrorPattern reads the path out of a JSON type error
// ("json: cannot unmarshal string into Go struct field Node.spec.unschedulable of type bool").
var typeErrorPattern = regexp.MustCompile(`cannot unmarshal (\S+) into Go struct field [^.]+\.(\S+) of type (\S+)`)

// decodeStrict decodes obj into out, failing on unknown or duplicate fields
// and on values of the wrong type. Errors are positioned in the document.
func (d *document) decodeStrict(obj map[string]any, out any, object string) ErrorList {
	data, err := json.Marshal(obj)
	if err != nil {
		return ErrorList{d.errorAt("", object, "cannot encode: "+err.Error())}
	}
	strict, err := sigsjson.UnmarshalStrict(data, out)
	var errs ErrorList
	for _, se := range strict {
		path, msg := "", se.Error()
		if fe, ok := se.(sigsjson.FieldError); ok {
			path = fe.FieldPath()
		}
		if strings.HasPrefix(msg, "unknown field") {
			msg = fmt.Sprintf("unknown field %q: %s has no such field (check spelling and indentation)", lastElement(path), kindOf(object))
		}
		errs = append(errs, d.errorAt(path, object, msg))
	}
	if err != nil {
		errs = append(errs, d.typeError(err, out, object))
	}
	return errs
}

// decodeLoose decodes an object that a schema already validated.
func (d *document) decodeLoose(obj map[string]any, out any, object string) ErrorList {
	data, err := json.Marshal(obj)
	if err == nil {
		err = json.Unmarshal(data, out)
	}
	if err != nil {
		return ErrorList{d.typeError(err, out, object)}
	}
	return nil
}

func (d *document) typeError(err error, out any, object string) *Error {
	path, value := d.locateDecodeError(out)
	msg := strings.TrimPrefix(err.Error(), "json: ")
	switch m := typeErrorPattern.FindStringSubmatch(err.Error()); {
	case m != nil:
		if path == "" {
			path = m[2]
		}
		msg = fmt.Sprintf("expected %s, found a %s", goTypeName(m[3]), m[1])
	case strings.Contains(msg, "quantities must match"):
		msg = fmt.Sprintf("expected a quantity such as 10Gi or 500M, found %q", fmt.Sprint(value))
	}
	return d.errorAt(path, object, msg)
}

// schemaTypeName says an OpenAPI type the way a YAML author thinks of it.
func schemaTypeName(t string) string {
	switch t {
	case "object":
		return "a map"
	case "array":
		return "a list"
	case "integer":
		return "an integer"
	case "null":
		return "null"
	}
	return "a " + t
}

// kindOf returns the kind of an object name "Kind/ns/name".
func kindOf(object string) string {
	kind, _, _ := strings.Cut(object, "/")
	return kind
}

// goTypeName says a Go type the way a YAML author thinks of it.
func goTypeName(t string) string {
	switch {
	case strings.HasPrefix(t, "map["):
		return "a map"
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case t == "string":
		return "a string"
	case t == "bool":
		return "a boolean"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "an integer"
	case strings.HasPrefix(t, "float"):
		return "a number"
	}
	return "an object (" + t + ")"
}

// locateDecodeError finds the field that makes decoding fail: it decodes
// the object pruned to one branch at a time and descends into the failing
// one, through maps and lists, so the path keeps list indices. Keys are
// tried in sorted order so the answer is stable.
func (d *document) locateDecodeError(out any) (string, any) {
	typ := reflect.TypeOf(out).Elem()
	fails := func(branch []any) bool {
		data, err := json.Marshal(pruneTo(d.obj, branch))
		return err != nil || json.Unmarshal(data, reflect.New(typ).Interface()) != nil
	}
	var branch []any
	var cur any = d.obj
	for {
		next, val, ok := failingChild(cur, branch, fails)
		if !ok {
			return branchPath(branch), cur
		}
		branch, cur = append(branch, next), val
	}
}

// failingChild returns the key or index of the child of cur whose branch
// alone fails to decode.
func failingChild(cur any, branch []any, fails func([]any) bool) (any, any, bool) {
	switch c := cur.(type) {
	case map[string]any:
		for _, k := range sortedKeys(c) {
			if fails(append(append([]any(nil), branch...), k)) {
				return k, c[k], true
			}
		}
	case []any:
		for i, v := range c {
			if fails(append(append([]any(nil), branch...), i)) {
				return i, v, true
			}
		}
	}
	return nil, nil, false
}

// branchPath renders a branch as a field path: spec.items[2].name.
func branchPath(branch []any) string {
	var b strings.Builder
	for _, e := range branch {
		switch x := e.(type) {
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(x)
		case int:
			fmt.Fprintf(&b, "[%d]", x)
		}
	}
	return b.String()
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// pruneTo keeps apiVersion, kind and only the branch named by the keys
// (strings) and list indices (ints); a pruned list keeps only that item.
func pruneTo(obj map[string]any, branch []any) map[string]any {
	out := map[string]any{"apiVersion": obj["apiVersion"], "kind": obj["kind"]}
	if len(branch) == 0 {
		return out
	}
	k := branch[0].(string)
	if v, ok := obj[k]; ok {
		out[k] = pruneValue(v, branch[1:])
	}
	return out
}

func pruneValue(v any, branch []any) any {
	if len(branch) == 0 {
		return v
	}
	switch x := v.(type) {
	case map[string]any:
		if k, ok := branch[0].(string); ok {
			if child, ok := x[k]; ok {
				return map[string]any{k: pruneValue(child, branch[1:])}
			}
		}
		return map[string]any{}
	case []any:
		if i, ok := branch[0].(int); ok && i < len(x) {
			return []any{pruneValue(x[i], branch[1:])}
		}
		return []any{}
	}
	return v
}

// errorAt builds an Error for an object-relative field path.
func (d *document) errorAt(path, object, msg string) *Error {
	return &Error{Pos: d.position(path), Object: object, Field: path, Message: msg}
}

// fieldErrors converts field.ErrorList (paths relative to the object) to Errors.
func (d *document) fieldErrors(list field.ErrorList, object string) ErrorList {
	out := make(ErrorList, 0, len(list))
	for _, fe := range list {
		out = append(out, d.errorAt(fe.Field, object, fieldErrorMessage(fe)))
	}
	return out
}

// warnings converts warnings in the shape of field.Errors (paths relative to
// the object) to Errors whose message is the detail alone.
func (d *document) warnings(list field.ErrorList, object string) ErrorList {
	out := make(ErrorList, 0, len(list))
	for _, fe := range list {
		out = append(out, d.errorAt(fe.Field, object, fe.Detail))
	}
	return out
}

// fieldErrorMessage renders a field.Error without repeating its path.
func fieldErrorMessage(fe *field.Error) string {
	detail := strings.ReplaceAll(fe.Detail, fe.Field+" in body ", "")
	if want, ok := strings.CutPrefix(detail, "must be of type "); ok && (fe.Type == field.ErrorTypeInvalid || fe.Type == field.ErrorTypeTypeInvalid) {
		want, _, _ = strings.Cut(want, ":")
		return fmt.Sprintf("expected %s, found %s", schemaTypeName(want), schemaTypeName(fmt.Sprint(fe.BadValue)))
	}
	msg := fe.ErrorBody()
	// The OpenAPI validator repeats the path inside the detail; drop it.
	msg = strings.ReplaceAll(msg, fe.Field+" in body ", "")
	return msg
}
