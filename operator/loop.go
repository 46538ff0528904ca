package operator

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
)

// EventsReporter is the reporting controller of the loop's Events.
const EventsReporter = "piraeus-operator"

// Loop keeps the cluster converged to the plan of its own inputs.
type Loop struct {
	opts     Options
	log      *slog.Logger
	dyn      dynamic.Interface
	watch    *watcher
	events   events.EventBroadcaster
	recorder events.EventRecorder
	trigger  chan struct{}
	lastErr  string // the error last reported in an Event
}

// New prepares a loop; Run runs it.
func New(opts Options) (*Loop, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(opts.Config)
	if err != nil {
		return nil, fmt.Errorf("operator: dynamic client: %w", err)
	}
	cs, err := kubernetes.NewForConfig(opts.Config)
	if err != nil {
		return nil, fmt.Errorf("operator: client: %w", err)
	}
	l := &Loop{opts: opts, log: opts.Logger, dyn: dyn, trigger: make(chan struct{}, 1)}
	l.events = events.NewBroadcaster(&events.EventSinkImpl{Interface: cs.EventsV1()})
	l.recorder = l.events.NewRecorder(scheme.Scheme, EventsReporter)
	l.watch, err = newWatcher(opts, dyn, l.Trigger)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// Trigger asks for a pass (debounced).
func (l *Loop) Trigger() {
	select {
	case l.trigger <- struct{}{}:
	default:
	}
}

// Run watches the inputs and runs passes until ctx ends: after input
// changes have been quiet for Debounce, at every Resync, RetryAfter after
// a pass that failed to apply, and when an evacuation step's timeout
// expires.
func (l *Loop) Run(ctx context.Context) error {
	l.events.StartRecordingToSink(ctx.Done())
	defer l.events.Shutdown()
	l.watch.start(ctx)
	l.log.Info("converge loop started", "namespace", l.opts.Namespace, "drift", l.opts.Drift,
		"debounce", l.opts.Debounce, "resync", l.opts.Resync, "fieldManager", l.opts.FieldManager)
	next := time.NewTimer(0) // the first pass right away
	defer next.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-l.trigger:
			if !l.quiet(ctx) {
				return nil
			}
		case <-next.C:
		}
		out := l.Pass(ctx)
		if ctx.Err() != nil {
			return nil
		}
		l.watch.start(ctx) // kinds whose CRDs the pass just created
		l.logOutcome(out)
		if l.opts.OnPass != nil {
			l.opts.OnPass(out)
		}
		wait := l.opts.Resync
		if out.ApplyErr != nil {
			wait = min(wait, l.opts.RetryAfter)
		}
		if out.Plan != nil {
			// An evacuation step waits for a time (attachedVolumeReattachTimeout):
			// the pass after it takes the next step.
			if d := out.Plan.Built.Model.NextDeadline(); !d.IsZero() {
				wait = min(wait, max(time.Until(d)+time.Second, l.opts.Debounce))
			}
		}
		if !next.Stop() {
			select {
			case <-next.C:
			default:
			}
		}
		next.Reset(wait)
	}
}

// quiet waits until no trigger came for Debounce (at most 10 Debounces in
// all, so a stream of changes cannot starve the loop); false when ctx ended.
func (l *Loop) quiet(ctx context.Context) bool {
	limit := time.After(10 * l.opts.Debounce)
	t := time.NewTimer(l.opts.Debounce)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-l.trigger:
			t.Reset(l.opts.Debounce)
		case <-t.C:
			return true
		case <-limit:
			return true
		}
	}
}

func (l *Loop) logOutcome(out Outcome) {
	attrs := []any{"duration", out.Duration.Round(time.Millisecond), "writes", out.Writes}
	if out.Apply != nil {
		attrs = append(attrs, "summary", out.Apply.SummaryLine())
	}
	switch {
	case out.PlanErr != nil:
		l.log.Error("plan does not validate: nothing applied", append(attrs, "err", out.PlanErr)...)
	case out.ApplyErr != nil:
		l.log.Error("pass failed", append(attrs, "err", out.ApplyErr)...)
	case len(out.Drift) > 0:
		l.log.Info("pass converged drift", append(attrs, "drift", len(out.Drift))...)
	default:
		l.log.Debug("pass: no change", attrs...)
	}
}
