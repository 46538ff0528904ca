package operator

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/piraeusctl/piraeusctl/apply"
)

// Event reasons.
const (
	ReasonDriftCorrected = "DriftCorrected"
	ReasonDriftDetected  = "DriftDetected"
	ReasonPlanInvalid    = "PlanInvalid"
	ReasonApplyFailed    = "ApplyFailed"
)

// record emits the pass's Events: one per drifted object, about that
// object (kubectl describe shows it), saying which fields changed;
// a plan or apply error on the LinstorCluster, once until it changes.
func (l *Loop) record(ctx context.Context, out *Outcome) {
	cluster := l.eventTarget(ctx)
	if cluster != nil {
		l.lastErr = recordError(l, cluster, out, l.lastErr)
	}
	for _, c := range out.Drift {
		l.log.Info("drift", "object", c.Object.String(), "action", c.Action, "fields", c.Fields, "corrected", l.opts.Drift == DriftCorrect)
		if l.opts.Drift == DriftReport {
			l.recorder.Eventf(refObject(c.Object), nil, corev1.EventTypeWarning, ReasonDriftDetected, "Report", "%s", driftMessage(c, false))
			continue
		}
		l.recorder.Eventf(refObject(c.Object), nil, corev1.EventTypeNormal, ReasonDriftCorrected, "Apply", "%s", driftMessage(c, true))
	}
}

// refObject stands for the object an Event is about (it may be gone).
func refObject(ref apply.ObjectRef) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(schema.GroupVersionKind{Group: ref.Group, Version: ref.Version, Kind: ref.Kind})
	u.SetNamespace(ref.Namespace)
	u.SetName(ref.Name)
	return u
}

// recordError emits an Event for a new plan or apply error and returns
// the error now current.
func recordError(l *Loop, cluster *unstructured.Unstructured, out *Outcome, last string) string {
	switch {
	case out.PlanErr != nil:
		msg := "the plan does not validate; nothing applied: " + out.PlanErr.Error()
		if msg != last {
			l.recorder.Eventf(cluster, nil, corev1.EventTypeWarning, ReasonPlanInvalid, "Plan", "%s", truncate(msg, 1024))
		}
		return msg
	case out.ApplyErr != nil:
		msg := "applying the plan failed: " + out.ApplyErr.Error()
		if msg != last {
			l.recorder.Eventf(cluster, nil, corev1.EventTypeWarning, ReasonApplyFailed, "Apply", "%s", truncate(msg, 1024))
		}
		return msg
	}
	return ""
}

// driftMessage says what differed and what was done.
func driftMessage(c apply.Change, corrected bool) string {
	var what, done string
	switch c.Action {
	case apply.Created:
		what, done = "was missing", "created it again"
	case apply.Pruned:
		what, done = "left the plan", "pruned it"
	default:
		what, done = "differed from the plan", "put the planned values back"
		if len(c.Fields) > 0 {
			what = "differed from the plan in " + strings.Join(c.Fields, ", ")
		}
	}
	if !corrected {
		done = "not changed: drift mode is report (apply the plan from git or run piraeusctl apply)"
	}
	return truncate(fmt.Sprintf("%s %s; %s", c.Object, what, done), 1024)
}

// eventTarget is the LinstorCluster the Events are about.
func (l *Loop) eventTarget(ctx context.Context) *unstructured.Unstructured {
	items, err := l.list(ctx, gvrCluster, "")
	if err != nil || len(items) == 0 {
		return nil
	}
	return &items[0]
}
