package render

import (
	"encoding/json"
	"fmt"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/kubernetes/scheme"

	piraeusv1 "github.com/piraeusctl/piraeusctl/api/v1"
	"github.com/piraeusctl/piraeusctl/plan"
	"github.com/piraeusctl/piraeusctl/planfile"
)

// sourcedPatch is a patch with the place it came from, for errors and
// warnings ("LinstorCluster default: spec.patches[1]").
type sourcedPatch struct {
	// object is "Kind/name" of the input holding the patch; "" when unknown.
	object string
	// field is its path in object (spec.patches[1]), or a description.
	field string
	// node is the satellite's node, for the patches of a satellite.
	node  string
	patch piraeusv1.Patch
}

// source names the patch in errors: "LinstorCluster default: spec.patches[1]",
// with " (node n1)" for a satellite's patch.
func (p sourcedPatch) source() string {
	s := p.field
	if p.object != "" {
		s = strings.Replace(p.object, "/", " ", 1) + ": " + p.field
	}
	if p.node != "" && p.object != "" {
		s += " (node " + p.node + ")"
	}
	return s
}

// unmatchedPatch is a patch whose target matched none of the objects it
// could patch, with the nearest of them (nil when none is alike).
type unmatchedPatch struct {
	sourcedPatch
	target  *piraeusv1.Selector
	nearest *unstructured.Unstructured
}

// applyPatchList applies patches in order; it returns the new object list
// (a strategic merge patch with `$patch: delete` removes its targets) and
// the patches whose target matched nothing, which are skipped as kustomize
// and upstream skip them.
func applyPatchList(objs []*unstructured.Unstructured, patches []sourcedPatch) ([]*unstructured.Unstructured, []unmatchedPatch, error) {
	var unmatched []unmatchedPatch
	for _, p := range patches {
		var target *piraeusv1.Selector
		var err error
		if objs, target, err = applyPatch(objs, p.patch); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", p.source(), err)
		}
		if target != nil {
			unmatched = append(unmatched, unmatchedPatch{sourcedPatch: p, target: target, nearest: nearestObject(objs, target)})
		}
	}
	return objs, unmatched, nil
}

// applyPatch applies one kustomize-style patch: a JSON 6902 patch (a list of
// operations, target required) or a strategic merge patch (an object; it
// targets the object it names unless a target is given). When the target
// matches no object, it returns the objects unchanged and that target.
func applyPatch(objs []*unstructured.Unstructured, p piraeusv1.Patch) ([]*unstructured.Unstructured, *piraeusv1.Selector, error) {
	kind, doc, body, err := plan.DecodePatch(p.Patch)
	if err != nil {
		return nil, nil, fmt.Errorf("patch: not YAML or JSON: %w", err)
	}
	switch kind {
	case plan.PatchJSON6902:
		return applyJSON6902(objs, p, doc)
	case plan.PatchStrategicMerge:
		return applyStrategicMerge(objs, p, body.(map[string]any))
	}
	return nil, nil, fmt.Errorf("patch: want a strategic merge patch (an object) or a JSON 6902 patch (a list), got %T", body)
}

func applyJSON6902(objs []*unstructured.Unstructured, p piraeusv1.Patch, doc []byte) ([]*unstructured.Unstructured, *piraeusv1.Selector, error) {
	if p.Target == nil {
		return nil, nil, fmt.Errorf("target: a JSON 6902 patch needs a target")
	}
	ops, err := jsonpatch.DecodePatch(doc)
	if err != nil {
		return nil, nil, fmt.Errorf("patch: %w", err)
	}
	targets, err := patchTargets(objs, p.Target)
	if err != nil || len(targets) == 0 {
		return objs, p.Target, err
	}
	err = patchEach(objs, targets, p.Options, func(o *unstructured.Unstructured) ([]byte, error) {
		orig, err := json.Marshal(o.Object)
		if err != nil {
			return nil, err
		}
		return ops.Apply(orig)
	})
	return objs, nil, err
}

// patchEach replaces each target with patch's result, checked by
// patchedObject; errors name the object.
func patchEach(objs []*unstructured.Unstructured, targets []int, opts map[string]bool, patch func(*unstructured.Unstructured) ([]byte, error)) error {
	for _, i := range targets {
		out, err := patch(objs[i])
		if err != nil {
			return fmt.Errorf("%s: %w", planfile.ObjectID(objs[i]), err)
		}
		if objs[i], err = patchedObject(objs[i], out, opts); err != nil {
			return err
		}
	}
	return nil
}

func applyStrategicMerge(objs []*unstructured.Unstructured, p piraeusv1.Patch, body map[string]any) ([]*unstructured.Unstructured, *piraeusv1.Selector, error) {
	target, err := smpTarget(p.Target, body)
	if err != nil {
		return nil, nil, err
	}
	targets, err := patchTargets(objs, target)
	if err != nil || len(targets) == 0 {
		return objs, target, err
	}
	if body["$patch"] == "delete" {
		return removeIndexes(objs, targets), nil, nil
	}
	err = patchEach(objs, targets, p.Options, func(o *unstructured.Unstructured) ([]byte, error) {
		merged, err := mergeObject(o.Object, retarget(body, o, p.Target != nil))
		if err != nil {
			return nil, err
		}
		return json.Marshal(merged)
	})
	return objs, nil, err
}

// smpTarget: the given target, or else a selector of the object the patch
// names.
func smpTarget(target *piraeusv1.Selector, body map[string]any) (*piraeusv1.Selector, error) {
	if target != nil {
		return target, nil
	}
	named := &unstructured.Unstructured{Object: body}
	if named.GetKind() == "" || named.GetName() == "" {
		return nil, fmt.Errorf("patch: a strategic merge patch without target must name its object (kind and metadata.name)")
	}
	sel := &piraeusv1.Selector{Kind: named.GetKind(), Name: regexpQuote(named.GetName())}
	if gv, err := schema.ParseGroupVersion(named.GetAPIVersion()); err == nil && named.GetAPIVersion() != "" {
		sel.Group, sel.Version = gv.Group, gv.Version
	}
	if ns := named.GetNamespace(); ns != "" {
		sel.Namespace = regexpQuote(ns)
	}
	return sel, nil
}

// patchTargets returns the indexes of the objects target selects (none is
// not an error: the caller warns and skips the patch).
func patchTargets(objs []*unstructured.Unstructured, target *piraeusv1.Selector) ([]int, error) {
	m, err := newTargetMatcher(target)
	if err != nil {
		return nil, err
	}
	return m.selectTargets(objs), nil
}

// retarget makes a targeted patch address the object it is applied to, as
// kustomize does, so the patch's own name or kind never renames the object.
func retarget(body map[string]any, obj *unstructured.Unstructured, targeted bool) map[string]any {
	patch := runtime.DeepCopyJSONValue(body).(map[string]any)
	if !targeted {
		return patch
	}
	patch["apiVersion"], patch["kind"] = obj.GetAPIVersion(), obj.GetKind()
	md, _ := patch["metadata"].(map[string]any)
	if md == nil {
		md = map[string]any{}
		patch["metadata"] = md
	}
	md["name"] = obj.GetName()
	if ns := obj.GetNamespace(); ns != "" {
		md["namespace"] = ns
	} else {
		delete(md, "namespace")
	}
	return patch
}

// mergeObject applies a strategic merge patch to a built-in kind (using its
// Go type for merge keys and strategies) or a JSON merge patch otherwise.
func mergeObject(obj, patch map[string]any) (map[string]any, error) {
	u := &unstructured.Unstructured{Object: obj}
	typed, err := scheme.Scheme.New(u.GroupVersionKind())
	if err != nil {
		return jsonMergePatch(obj, patch)
	}
	return strategicpatch.StrategicMergeMapPatch(obj, patch, typed)
}

func jsonMergePatch(obj, patch map[string]any) (map[string]any, error) {
	orig, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	p, err := json.Marshal(patch)
	if err != nil {
		return nil, err
	}
	out, err := jsonpatch.MergePatch(orig, p)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// patchedObject decodes a patched object and checks that the patch kept
// its identity unless the options allow a change.
func patchedObject(before *unstructured.Unstructured, data []byte, opts map[string]bool) (*unstructured.Unstructured, error) {
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: patched object: %w", planfile.ObjectID(before), err)
	}
	after := &unstructured.Unstructured{Object: normalizeJSON(m).(map[string]any)}
	if after.GetName() != before.GetName() && !opts["allowNameChange"] {
		return nil, fmt.Errorf("%s: patch renames the object to %q; set options.allowNameChange to allow it", planfile.ObjectID(before), after.GetName())
	}
	if after.GetKind() != before.GetKind() && !opts["allowKindChange"] {
		return nil, fmt.Errorf("%s: patch changes the kind to %q; set options.allowKindChange to allow it", planfile.ObjectID(before), after.GetKind())
	}
	return after, nil
}

func removeIndexes(objs []*unstructured.Unstructured, idx []int) []*unstructured.Unstructured {
	drop := make(map[int]bool, len(idx))
	for _, i := range idx {
		drop[i] = true
	}
	out := objs[:0:0]
	for i, o := range objs {
		if !drop[i] {
			out = append(out, o)
		}
	}
	return out
}
