package apply

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/pmezard/go-difflib/difflib"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

// DiffOptions configure Diff.
type DiffOptions struct {
	// Namespace is the default namespace and that of the ApplySet parent, as
	// for Run; objects get the same ApplySet label Run gives them.
	Namespace string
	// ApplySetName is the ApplySet parent's name (default "piraeusctl").
	ApplySetName string
}

// ObjectDiff is the difference of one object.
type ObjectDiff struct {
	Object ObjectRef `json:"object"`
	// Unified is the unified diff live → planned, empty when equal.
	Unified string `json:"diff,omitempty"`
	// Absent is true when the object does not exist in the cluster.
	Absent bool `json:"absent,omitempty"`
}

// DiffResult holds one entry per planned object.
type DiffResult struct {
	Objects []ObjectDiff `json:"objects"`
}

// Changed reports whether any object differs.
func (d *DiffResult) Changed() bool {
	for _, o := range d.Objects {
		if o.Unified != "" {
			return true
		}
	}
	return false
}

// WriteText prints the unified diffs of the objects that differ.
func (d *DiffResult) WriteText(w io.Writer) error {
	for _, o := range d.Objects {
		if o.Unified == "" {
			continue
		}
		if _, err := io.WriteString(w, o.Unified); err != nil {
			return err
		}
	}
	return nil
}

// Diff compares each object with the cluster: the live object against the
// result of a server-side dry-run apply of the planned one (with
// --force-conflicts semantics), so that server defaults do not show as drift.
// Server-managed metadata and status are left out. Objects that do not exist
// show as all added.
func Diff(ctx context.Context, cfg *rest.Config, objs []*unstructured.Unstructured, opts DiffOptions) (*DiffResult, error) {
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
		newApplySet(name, opts.Namespace, DryRunServer).label(objs)
	}
	out := &DiffResult{}
	var errs []error
	for _, obj := range objs {
		d, err := diffObject(ctx, c, obj, opts.Namespace)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out.Objects = append(out.Objects, d)
	}
	return out, errors.Join(errs...)
}

func diffObject(ctx context.Context, c *cluster, obj *unstructured.Unstructured, defaultNS string) (ObjectDiff, error) {
	ref := RefOf(obj)
	ri, _, err := c.resource(obj, defaultNS)
	if meta.IsNoMatchError(err) {
		return unifiedDiff(RefOf(obj), nil, obj) // its CRD is new as well
	}
	if err != nil {
		return ObjectDiff{}, &ObjectError{Object: ref, Err: err}
	}
	ref = RefOf(obj)
	live, err := ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		live = nil
	} else if err != nil {
		return ObjectDiff{}, objectErr(ref, "get", err)
	}
	merged, err := ri.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{
		FieldManager: FieldManager, Force: true, DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		if live != nil || !isNamespaceNotFound(err) {
			return ObjectDiff{}, objectErr(ref, "dry-run apply", err)
		}
		merged = obj // its namespace is new as well
	}
	return unifiedDiff(ref, live, merged)
}

// unifiedDiff renders live and planned as YAML without server-managed noise
// and diffs them.
func unifiedDiff(ref ObjectRef, live, planned *unstructured.Unstructured) (ObjectDiff, error) {
	a, err := diffYAML(live)
	if err != nil {
		return ObjectDiff{}, &ObjectError{Object: ref, Err: err}
	}
	b, err := diffYAML(planned)
	if err != nil {
		return ObjectDiff{}, &ObjectError{Object: ref, Err: err}
	}
	d := ObjectDiff{Object: ref, Absent: live == nil}
	if a == b {
		return d, nil
	}
	d.Unified, err = difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(a), B: difflib.SplitLines(b),
		FromFile: "live/" + ref.String(), ToFile: "planned/" + ref.String(), Context: 3,
	})
	if err != nil {
		return ObjectDiff{}, &ObjectError{Object: ref, Err: fmt.Errorf("diff: %w", err)}
	}
	return d, nil
}

// diffYAML is the object without the fields the server manages.
func diffYAML(obj *unstructured.Unstructured) (string, error) {
	if obj == nil {
		return "", nil
	}
	o := obj.DeepCopy()
	unstructured.RemoveNestedField(o.Object, "status")
	for _, f := range []string{"managedFields", "resourceVersion", "generation", "uid", "creationTimestamp"} {
		unstructured.RemoveNestedField(o.Object, "metadata", f)
	}
	data, err := yaml.Marshal(o.Object)
	if err != nil {
		return "", fmt.Errorf("marshal: %w", err)
	}
	return string(data), nil
}
