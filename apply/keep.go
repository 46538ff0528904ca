package apply

import (
	"context"
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// KeepRule decides whether prune must keep an object that left the plan:
// it returns why (the "kept" message), or "" to let prune delete it. A rule
// may read the cluster through c.
type KeepRule func(ctx context.Context, c dynamic.Interface, obj *unstructured.Unstructured) (string, error)

// DataSafetyRules are Kubernetes' own ways to lose data by deleting an
// object: PersistentVolumes and claims, CRDs whose custom resources still
// exist, namespaces that still hold claims. DefaultOptions keeps them;
// callers add the rules of their own kinds.
func DataSafetyRules() []KeepRule {
	return []KeepRule{
		KeepKinds("holds volume data: PersistentVolumes and PersistentVolumeClaims are never pruned",
			schema.GroupKind{Kind: "PersistentVolume"}, schema.GroupKind{Kind: "PersistentVolumeClaim"}),
		KeepCRDsInUse(),
		KeepNamespacesHolding(schema.GroupVersionResource{Version: "v1", Resource: "persistentvolumeclaims"}, "PersistentVolumeClaims"),
	}
}

var (
	gkCRD       = schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}
	gkNamespace = schema.GroupKind{Kind: "Namespace"}
)

// KeepKinds keeps every object of the kinds.
func KeepKinds(reason string, kinds ...schema.GroupKind) KeepRule {
	return func(_ context.Context, _ dynamic.Interface, obj *unstructured.Unstructured) (string, error) {
		if slices.Contains(kinds, obj.GroupVersionKind().GroupKind()) {
			return reason, nil
		}
		return "", nil
	}
}

// KeepGroup keeps every object of the API group, and the CRDs that define
// its kinds.
func KeepGroup(group, reason, crdReason string) KeepRule {
	return func(_ context.Context, _ dynamic.Interface, obj *unstructured.Unstructured) (string, error) {
		gk := obj.GroupVersionKind().GroupKind()
		switch {
		case gk.Group == group:
			return reason, nil
		case gk == gkCRD:
			if g, _, _ := unstructured.NestedString(obj.Object, "spec", "group"); g == group {
				return crdReason, nil
			}
		}
		return "", nil
	}
}

// KeepCRDsInUse keeps a CRD whose custom resources still exist: deleting it
// would delete them.
func KeepCRDsInUse() KeepRule {
	return func(ctx context.Context, c dynamic.Interface, crd *unstructured.Unstructured) (string, error) {
		if crd.GroupVersionKind().GroupKind() != gkCRD {
			return "", nil
		}
		group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
		plural, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "plural")
		versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
		for _, v := range versions {
			vm, _ := v.(map[string]any)
			name, _ := vm["name"].(string)
			if served, _ := vm["served"].(bool); !served || name == "" {
				continue
			}
			gvr := schema.GroupVersionResource{Group: group, Version: name, Resource: plural}
			example, err := firstObject(ctx, c.Resource(gvr))
			if err != nil || example == nil {
				return "", err
			}
			return "its custom resources still exist (e.g. " + RefOf(example).String() + ")", nil
		}
		return "", nil
	}
}

// KeepNamespacesHolding keeps a namespace that still holds objects of the
// resource (what names them in the message): deleting it would delete them.
func KeepNamespacesHolding(resource schema.GroupVersionResource, what string) KeepRule {
	return func(ctx context.Context, c dynamic.Interface, obj *unstructured.Unstructured) (string, error) {
		if obj.GroupVersionKind().GroupKind() != gkNamespace {
			return "", nil
		}
		example, err := firstObject(ctx, c.Resource(resource).Namespace(obj.GetName()))
		if err != nil || example == nil {
			return "", err
		}
		return "still holds " + what + " (e.g. " + example.GetName() + ")", nil
	}
}

// firstObject returns one object of the resource, or nil when there is none.
func firstObject(ctx context.Context, ri dynamic.ResourceInterface) (*unstructured.Unstructured, error) {
	list, err := ri.List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	if len(list.Items) == 0 {
		return nil, nil
	}
	return &list.Items[0], nil
}

// keepReason asks the rules in order; the first reason wins.
func (r *runner) keepReason(ctx context.Context, obj *unstructured.Unstructured) (string, error) {
	for _, rule := range r.opts.Keep {
		reason, err := rule(ctx, r.c.dyn, obj)
		if reason != "" || err != nil {
			return reason, err
		}
	}
	return "", nil
}
