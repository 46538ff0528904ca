package apply

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/piraeusctl/piraeusctl/internal/objdiff"
)

// DiffOptions configure Diff.
type DiffOptions struct {
	// Namespace is the default namespace and that of the ApplySet parent, as
	// for Run; objects get the same ApplySet label Run gives them.
	Namespace string
	// ApplySetName is the ApplySet parent's name (default "piraeusctl").
	ApplySetName string
}

// liveSides head live diffs: "--- live/<Kind/ns/name>", "+++ planned/...".
var liveSides = objdiff.Sides{From: "live", To: "planned"}

// Diff compares each object with the cluster: the live object against the
// result of a server-side dry-run apply of the planned one (with
// --force-conflicts semantics), so that server defaults do not show as drift.
// Server-managed metadata and status are left out. Objects that do not exist
// show as added. The result has one entry per object, unchanged ones too.
func Diff(ctx context.Context, cfg *rest.Config, objs []*unstructured.Unstructured, opts DiffOptions) ([]objdiff.ObjectDiff, error) {
	c, err := newCluster(cfg)
	if err != nil {
		return nil, err
	}
	objs = prepare(objs)
	if opts.Namespace != "" {
		name := opts.ApplySetName
		if name == "" {
			name = DefaultOptions().ApplySetName
		}
		newApplySet(name, opts.Namespace, DryRunServer, FieldManager).label(objs)
	}
	var out []objdiff.ObjectDiff
	var errs []error
	for _, obj := range objs {
		d, err := diffObject(ctx, c, obj, opts.Namespace)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, d)
	}
	return out, errors.Join(errs...)
}

func diffObject(ctx context.Context, c *cluster, obj *unstructured.Unstructured, defaultNS string) (objdiff.ObjectDiff, error) {
	ref := RefOf(obj)
	ri, _, err := c.resource(obj, defaultNS)
	if meta.IsNoMatchError(err) {
		return unifiedDiff(RefOf(obj), nil, obj) // its CRD is new as well
	}
	if err != nil {
		return objdiff.ObjectDiff{}, &ObjectError{Object: ref, Err: err}
	}
	ref = RefOf(obj)
	live, err := ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		live = nil
	} else if err != nil {
		return objdiff.ObjectDiff{}, objectErr(ref, "get", err)
	}
	merged, err := ri.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{
		FieldManager: FieldManager, Force: true, DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		if live != nil || !isNamespaceNotFound(err) {
			return objdiff.ObjectDiff{}, objectErr(ref, "dry-run apply", err)
		}
		merged = obj // its namespace is new as well
	}
	return unifiedDiff(ref, live, merged)
}

// unifiedDiff diffs live and planned as YAML without server-managed noise.
func unifiedDiff(ref ObjectRef, live, planned *unstructured.Unstructured) (objdiff.ObjectDiff, error) {
	a, err := diffYAML(live)
	if err != nil {
		return objdiff.ObjectDiff{}, &ObjectError{Object: ref, Err: err}
	}
	b, err := diffYAML(planned)
	if err != nil {
		return objdiff.ObjectDiff{}, &ObjectError{Object: ref, Err: err}
	}
	return objdiff.Compare(ref.String(), liveSides, a, b), nil
}

// diffYAML is the object without the fields the server manages; nil for
// no object.
func diffYAML(obj *unstructured.Unstructured) ([]byte, error) {
	if obj == nil {
		return nil, nil
	}
	o := obj.DeepCopy()
	unstructured.RemoveNestedField(o.Object, "status")
	for _, f := range []string{"managedFields", "resourceVersion", "generation", "uid", "creationTimestamp"} {
		unstructured.RemoveNestedField(o.Object, "metadata", f)
	}
	data, err := yaml.Marshal(o.Object)
	if err != nil {
		return nil, fmt.Errorf("marshal: %w", err)
	}
	return data, nil
}
