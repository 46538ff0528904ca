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
			msg = "unknown field: " + object + " has no such field (check spelling and indentation)"
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
	m := typeErrorPattern.FindStringSubmatch(err.Error())
	if m == nil {
		return d.errorAt(d.locateDecodeError(out), object, strings.TrimPrefix(err.Error(), "json: "))
	}
	return d.errorAt(m[2], object, fmt.Sprintf("expected %s, found a %s", goTypeName(m[3]), m[1]))
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

// locateDecodeError finds the field that makes decoding fail when the
// decoder's error names none (e.g. a malformed quantity): it decodes the
// object pruned to one branch at a time and descends into the failing one.
// Keys are tried in sorted order so the answer is stable.
func (d *document) locateDecodeError(out any) string {
	typ := reflect.TypeOf(out).Elem()
	fails := func(path string) bool {
		data, err := json.Marshal(pruneTo(d.obj, strings.Split(path, ".")))
		return err != nil || json.Unmarshal(data, reflect.New(typ).Interface()) != nil
	}
	path := ""
	var cur any = d.obj
	for {
		m, ok := cur.(map[string]any)
		if !ok {
			return path
		}
		next := ""
		for _, k := range sortedKeys(m) {
			if fails(joinPath(path, k)) {
				next = k
				break
			}
		}
		if next == "" {
			return path
		}
		path, cur = joinPath(path, next), m[next]
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// pruneTo keeps apiVersion, kind and only the branch named by keys.
func pruneTo(obj map[string]any, keys []string) map[string]any {
	out := map[string]any{"apiVersion": obj["apiVersion"], "kind": obj["kind"]}
	src, dst := obj, out
	for i, k := range keys {
		v, ok := src[k]
		if !ok {
			return out
		}
		if i == len(keys)-1 {
			dst[k] = v
			return out
		}
		m, ok := v.(map[string]any)
		if !ok {
			dst[k] = v
			return out
		}
		child := map[string]any{}
		dst[k], src, dst = child, m, child
	}
	return out
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

// fieldErrorMessage renders a field.Error without repeating its path.
func fieldErrorMessage(fe *field.Error) string {
	msg := fe.ErrorBody()
	// The OpenAPI validator repeats the path inside the detail; drop it.
	msg = strings.ReplaceAll(msg, fe.Field+" in body ", "")
	return msg
}
