package apply

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// pollInterval is how often waitReady looks at objects not ready yet.
const pollInterval = 250 * time.Millisecond

// Readiness is the state of one object, as kapp's Readiness checks report it.
type Readiness struct {
	Done    bool
	Message string // what is missing, e.g. "1/3 replicas ready"
}

// WaitError names the objects that were not ready in time.
type WaitError struct {
	Pending []string // "Deployment/ns/name: 0/1 replicas ready"
	Cause   error
}

func (e *WaitError) Error() string {
	return fmt.Sprintf("timed out waiting for %d objects: %s", len(e.Pending), strings.Join(e.Pending, "; "))
}

func (e *WaitError) Unwrap() error { return e.Cause }

// waitReady polls objs until every one is ready or timeout passes, writing a
// line to progress each time what it waits for changes.
func waitReady(ctx context.Context, c *cluster, objs []*unstructured.Unstructured, timeout time.Duration, progress io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pending := map[ObjectRef]*unstructured.Unstructured{}
	for _, o := range objs {
		if hasReadiness(o) {
			pending[RefOf(o)] = o
		}
	}
	last := map[ObjectRef]string{}
	for {
		for ref, obj := range pending {
			state, err := readinessOf(ctx, c, obj)
			if err != nil && ctx.Err() == nil {
				return err
			}
			if state.Done {
				delete(pending, ref)
				fmt.Fprintf(progress, "%s ready\n", ref)
				continue
			}
			if last[ref] != state.Message {
				last[ref] = state.Message
				fmt.Fprintf(progress, "waiting for %s: %s\n", ref, state.Message)
			}
		}
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return pendingError(pending, last, ctx.Err())
		case <-time.After(pollInterval):
		}
	}
}

func pendingError(pending map[ObjectRef]*unstructured.Unstructured, last map[ObjectRef]string, cause error) error {
	if !errors.Is(cause, context.DeadlineExceeded) {
		return fmt.Errorf("wait interrupted: %w", cause)
	}
	out := make([]string, 0, len(pending))
	for ref := range pending {
		out = append(out, ref.String()+": "+last[ref])
	}
	sortStrings(out)
	return &WaitError{Pending: out, Cause: cause}
}

// hasReadiness reports whether Run waits for this kind at all.
func hasReadiness(o *unstructured.Unstructured) bool {
	switch o.GroupVersionKind().GroupKind().String() {
	case "CustomResourceDefinition.apiextensions.k8s.io", "Deployment.apps", "DaemonSet.apps", "StatefulSet.apps":
		return true
	}
	return false
}

func readinessOf(ctx context.Context, c *cluster, obj *unstructured.Unstructured) (Readiness, error) {
	ri, _, err := c.resource(obj, obj.GetNamespace())
	if err != nil {
		return Readiness{}, &ObjectError{Object: RefOf(obj), Err: err}
	}
	live, err := ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return Readiness{Message: "not found"}, nil
	}
	if err != nil {
		return Readiness{}, objectErr(RefOf(obj), "get", err)
	}
	return ReadinessOf(live), nil
}

// ReadinessOf judges a live object: CRDs established, Deployments and
// StatefulSets with all replicas updated and ready, DaemonSets ready on every
// scheduled node; always for the latest generation.
func ReadinessOf(live *unstructured.Unstructured) Readiness {
	kind := live.GroupVersionKind().GroupKind().String()
	if kind == "CustomResourceDefinition.apiextensions.k8s.io" {
		if conditionTrue(live, "Established") {
			return Readiness{Done: true}
		}
		return Readiness{Message: "not established"}
	}
	observed, _, _ := unstructured.NestedInt64(live.Object, "status", "observedGeneration")
	if observed < live.GetGeneration() {
		return Readiness{Message: fmt.Sprintf("generation %d not observed yet (at %d)", live.GetGeneration(), observed)}
	}
	switch kind {
	case "Deployment.apps", "StatefulSet.apps":
		want := int64(1)
		if r, found, _ := unstructured.NestedInt64(live.Object, "spec", "replicas"); found {
			want = r
		}
		updated, _, _ := unstructured.NestedInt64(live.Object, "status", "updatedReplicas")
		ready, _, _ := unstructured.NestedInt64(live.Object, "status", "readyReplicas")
		if updated < want || ready < want {
			return Readiness{Message: fmt.Sprintf("%d/%d replicas ready, %d updated", ready, want, updated)}
		}
	case "DaemonSet.apps":
		want, _, _ := unstructured.NestedInt64(live.Object, "status", "desiredNumberScheduled")
		ready, _, _ := unstructured.NestedInt64(live.Object, "status", "numberReady")
		updated, _, _ := unstructured.NestedInt64(live.Object, "status", "updatedNumberScheduled")
		if ready < want || updated < want {
			return Readiness{Message: fmt.Sprintf("%d/%d pods ready, %d updated", ready, want, updated)}
		}
	}
	return Readiness{Done: true}
}

func conditionTrue(obj *unstructured.Unstructured, condType string) bool {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == condType && m["status"] == "True" {
			return true
		}
	}
	return false
}
