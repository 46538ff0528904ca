package apply

import (
	"context"
	"errors"
	"fmt"
	"sort"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/dynamic"

	"github.com/piraeusctl/piraeusctl/internal/kindorder"
)

// prune deletes the ApplySet members that are not in objs, except those the
// keep rules (Options.Keep) keep, then narrows the parent to the current
// members. Kept objects stay members (and keep being reported as kept).
func (r *runner) prune(ctx context.Context, objs []*unstructured.Unstructured) error {
	wanted := map[string]bool{}
	for _, o := range objs {
		wanted[pruneKey(o)] = true
	}
	candidates, err := r.listMembers(ctx)
	if err != nil {
		return err
	}
	sort.SliceStable(candidates, func(i, j int) bool {
		return kindorder.ObjectStage(candidates[i].obj) > kindorder.ObjectStage(candidates[j].obj) // dependents first
	})
	var errs []error
	remaining := objs // the set after prune: the plan and what was kept
	for _, m := range candidates {
		if wanted[pruneKey(m.obj)] {
			continue
		}
		c, err := r.pruneOne(ctx, m)
		if c.Action != Pruned {
			remaining = append(remaining[:len(remaining):len(remaining)], m.obj)
		}
		r.report(c)
		r.mu.Lock()
		r.result.add(c)
		r.mu.Unlock()
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return r.set.narrow(ctx, r.c, remaining)
}

type member struct {
	obj *unstructured.Unstructured
	ri  dynamic.ResourceInterface
}

// listMembers lists every object labelled as part of the set, in every
// group-kind and namespace the parent lists (old ∪ new, see widen).
func (r *runner) listMembers(ctx context.Context) ([]member, error) {
	namespaces := append([]string{r.set.namespace}, sets.List(r.set.currentNS)...)
	selector := metav1.ListOptions{LabelSelector: LabelPartOf + "=" + r.set.id}
	var out []member
	for _, gkText := range sets.List(r.set.currentGKs) {
		gk := schema.ParseGroupKind(gkText)
		mapping, err := r.c.mapper.RESTMapping(gk)
		if meta.IsNoMatchError(err) {
			continue // kind no longer served: nothing of it can exist
		}
		if err != nil {
			return nil, fmt.Errorf("prune: map %s: %w", gkText, err)
		}
		clients := []dynamic.ResourceInterface{r.c.dyn.Resource(mapping.Resource)}
		if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
			clients = clients[:0]
			for _, ns := range namespaces {
				clients = append(clients, r.c.dyn.Resource(mapping.Resource).Namespace(ns))
			}
		}
		for _, ri := range clients {
			list, err := ri.List(ctx, selector)
			if err != nil {
				return nil, fmt.Errorf("prune: list %s: %w", gkText, err)
			}
			for i := range list.Items {
				out = append(out, member{obj: &list.Items[i], ri: ri})
			}
		}
	}
	return out, nil
}

// pruneOne deletes one member that left the set, or keeps it with the reason.
func (r *runner) pruneOne(ctx context.Context, m member) (Change, error) {
	ref := RefOf(m.obj)
	reason, err := r.keepReason(ctx, m.obj)
	if err != nil {
		return failed(ref, objectErr(ref, "prune check", err))
	}
	if reason != "" {
		return Change{Object: ref, Action: Kept, Message: reason}, nil
	}
	if r.opts.DryRun == DryRunClient {
		return Change{Object: ref, Action: Pruned}, nil
	}
	policy := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{PropagationPolicy: &policy,
		Preconditions: &metav1.Preconditions{UID: ptr(m.obj.GetUID())}}
	if r.opts.DryRun == DryRunServer {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	if err := m.ri.Delete(ctx, m.obj.GetName(), opts); err != nil && !apierrors.IsNotFound(err) {
		return failed(ref, objectErr(ref, "prune", err))
	}
	return Change{Object: ref, Action: Pruned}, nil
}

func pruneKey(o *unstructured.Unstructured) string {
	gk := o.GroupVersionKind().GroupKind()
	return gk.String() + "/" + o.GetNamespace() + "/" + o.GetName()
}

func ptr[T any](v T) *T { return &v }
