package apply

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"

	"github.com/piraeusctl/piraeusctl/internal/kindorder"
)

// Run converges the cluster to objs with server-side apply and returns what
// happened to each object. It applies in the stages of internal/kindorder, waits for new
// CRDs to be established before their custom resources, prunes the ApplySet
// when opts.Prune is set and waits for workloads when opts.Wait is set.
//
// The returned Result is valid even with an error: it holds every outcome up
// to the failure. An error for one object does not stop the others of its
// stage, but does stop later stages, pruning and waiting.
func Run(ctx context.Context, cfg *rest.Config, objs []*unstructured.Unstructured, opts Options) (*Result, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	c, err := newCluster(cfg)
	if err != nil {
		return nil, err
	}
	r := &runner{c: c, opts: opts, result: &Result{DryRun: opts.DryRun, Summary: map[Action]int{}}}
	return r.result, r.run(ctx, prepare(objs))
}

// prepare deep-copies the objects so that Run never changes its input.
func prepare(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		out[i] = o.DeepCopy()
	}
	return out
}

// runner holds the state of one Run.
type runner struct {
	c      *cluster
	opts   Options
	set    *applySet
	mu     sync.Mutex // guards result and progress output
	result *Result
}

func (r *runner) run(ctx context.Context, objs []*unstructured.Unstructured) error {
	if r.opts.Namespace != "" {
		r.set = newApplySet(r.opts.ApplySetName, r.opts.Namespace, r.opts.DryRun, r.opts.FieldManager)
		r.set.label(objs)
		r.result.ApplySet = r.set.id
	}
	widened := false
	for i, batch := range kindorder.Stages(objs) {
		if r.set != nil && !widened && (i > 0 || kindorder.ObjectStage(batch[0]) != kindorder.NamespacesCRDs) {
			if err := r.set.widen(ctx, r.c, objs, r.opts.Namespace); err != nil {
				return err
			}
			widened = true
		}
		if err := r.applyStage(ctx, batch); err != nil {
			return err
		}
		if kindorder.ObjectStage(batch[0]) == kindorder.NamespacesCRDs {
			if err := r.afterCRDs(ctx, batch); err != nil {
				return err
			}
		}
	}
	if r.set != nil && !widened {
		if err := r.set.widen(ctx, r.c, objs, r.opts.Namespace); err != nil {
			return err
		}
	}
	if r.set != nil && r.opts.Prune {
		if err := r.prune(ctx, objs); err != nil {
			return err
		}
	}
	// Without prune the parent keeps listing old group-kinds (widened, never
	// narrowed), so that a later --prune still finds the objects that left.
	if r.opts.Wait && !r.opts.dryRunning() {
		return waitReady(ctx, r.c, objs, r.opts.Timeout, r.opts.Progress)
	}
	return nil
}

// afterCRDs waits until the CRDs just applied are established and resets the
// RESTMapper so their kinds resolve.
func (r *runner) afterCRDs(ctx context.Context, batch []*unstructured.Unstructured) error {
	crds := filterKind(batch, "apiextensions.k8s.io", "CustomResourceDefinition")
	if len(crds) == 0 || r.opts.dryRunning() {
		return nil
	}
	if err := waitReady(ctx, r.c, crds, r.opts.Timeout, r.opts.Progress); err != nil {
		return err
	}
	r.c.resetMapper()
	return nil
}

// applyStage applies one stage's objects concurrently and records their
// outcomes in input order.
func (r *runner) applyStage(ctx context.Context, batch []*unstructured.Unstructured) error {
	changes := make([]Change, len(batch))
	errs := make([]error, len(batch))
	sem := make(chan struct{}, r.opts.Concurrency)
	var wg sync.WaitGroup
	for i, obj := range batch {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			changes[i], errs[i] = r.applyObject(ctx, obj)
			r.report(changes[i])
		}()
	}
	wg.Wait()
	r.mu.Lock()
	for _, c := range changes {
		r.result.add(c)
	}
	r.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("apply interrupted: %w", err)
	}
	return errors.Join(errs...)
}

// report prints one progress line.
func (r *runner) report(c Change) {
	r.mu.Lock()
	defer r.mu.Unlock()
	line := c.String()
	if r.opts.dryRunning() && c.Action != Failed {
		line += " (dry run)"
	}
	if _, err := io.WriteString(r.opts.Progress, line+"\n"); err != nil {
		slog.Debug("progress output", "err", err)
	}
}

// applyObject converges one object: no write when nothing would change.
func (r *runner) applyObject(ctx context.Context, obj *unstructured.Unstructured) (Change, error) {
	ri, _, err := r.c.resource(obj, r.opts.Namespace)
	ref := RefOf(obj)
	if err != nil {
		return r.failOrSkip(ref, err)
	}
	live, err := ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
	exists := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return failed(ref, objectErr(ref, "get", err))
	}
	if exists && ownedFieldsMatch(obj, live, r.opts.FieldManager) {
		return Change{Object: ref, Action: Unchanged}, nil
	}
	var fields []string
	if r.opts.DryRun == DryRunClient {
		c := Change{Object: ref, Action: createdOr(exists)}
		if exists {
			c.Message = "may be unchanged after server defaulting; --dry-run=server tells"
		}
		return c, nil
	}
	if exists {
		dry, err := ri.Apply(ctx, obj.GetName(), obj, r.applyOptions(true))
		if err != nil {
			return failed(ref, objectErr(ref, "dry-run apply", err))
		}
		if equality.Semantic.DeepEqual(live.Object, dry.Object) {
			return Change{Object: ref, Action: Unchanged}, nil
		}
		fields = ChangedFields(live, dry)
		if r.opts.DryRun == DryRunServer {
			return Change{Object: ref, Action: Configured, Fields: fields}, nil
		}
	}
	if _, err := ri.Apply(ctx, obj.GetName(), obj, r.applyOptions(r.opts.DryRun == DryRunServer)); err != nil {
		if r.opts.DryRun == DryRunServer && isNamespaceNotFound(err) {
			return Change{Object: ref, Action: Skipped, Message: "namespace " + obj.GetNamespace() + " does not exist yet"}, nil
		}
		return failed(ref, objectErr(ref, "apply", err))
	}
	return Change{Object: ref, Action: createdOr(exists), Fields: fields}, nil
}

// failOrSkip handles an object whose kind cannot be mapped: in a dry run its
// CRD may be in the plan but not yet in the cluster.
func (r *runner) failOrSkip(ref ObjectRef, err error) (Change, error) {
	if r.opts.dryRunning() {
		return Change{Object: ref, Action: Skipped, Message: "kind not served yet (its CRD is not in the cluster)"}, nil
	}
	return failed(ref, &ObjectError{Object: ref, Err: err})
}

func (r *runner) applyOptions(dryRun bool) metav1.ApplyOptions {
	o := metav1.ApplyOptions{FieldManager: r.opts.FieldManager, Force: r.opts.ForceConflicts}
	if dryRun {
		o.DryRun = []string{metav1.DryRunAll}
	}
	return o
}

func failed(ref ObjectRef, err error) (Change, error) {
	msg := err.Error()
	var oe *ObjectError
	if errors.As(err, &oe) {
		msg = oe.Err.Error()
	}
	return Change{Object: ref, Action: Failed, Message: msg}, err
}

func createdOr(exists bool) Action {
	if exists {
		return Configured
	}
	return Created
}

func filterKind(objs []*unstructured.Unstructured, group, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		if gvk.Group == group && gvk.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}

// isNamespaceNotFound reports a NotFound error about the object's namespace.
func isNamespaceNotFound(err error) bool {
	var status apierrors.APIStatus
	if !apierrors.IsNotFound(err) || !errors.As(err, &status) {
		return false
	}
	d := status.Status().Details
	return d != nil && d.Kind == "namespaces"
}
