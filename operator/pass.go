package operator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/piraeusctl/piraeusctl/apply"
	"github.com/piraeusctl/piraeusctl/pipeline"
	"github.com/piraeusctl/piraeusctl/plan"
)

// Outcome is what one pass did.
type Outcome struct {
	// Started and Duration time the pass.
	Started  time.Time
	Duration time.Duration
	// Plan is the pass's plan; nil when it did not validate (PlanErr).
	Plan    *pipeline.Result
	PlanErr error
	// Apply is what the engine did (in report mode: would do); ApplyErr
	// is its error.
	Apply    *apply.Result
	ApplyErr error
	// Writes counts the loop's own writes: objects created, configured or
	// pruned (none in report mode) and status updates. Events are not counted.
	Writes int
	// Drift lists the objects that differed from the plan.
	Drift []apply.Change
	// StatusErr is an error writing the conditions (the pass goes on).
	StatusErr error
}

// Err is the pass's error: an invalid plan or a failed apply.
func (o Outcome) Err() error { return errors.Join(o.PlanErr, o.ApplyErr) }

// Pass runs one pass at once, outside Run's schedule (benchmarks, tools):
// plan the cluster's inputs and converge the cluster to the plan.
func (l *Loop) Pass(ctx context.Context) (out Outcome) {
	out.Started = time.Now()
	defer func() { out.Duration = time.Since(out.Started) }()
	out.Plan, out.PlanErr = l.plan(ctx, out.Started)
	if out.PlanErr == nil {
		l.watch.evacuating.Store(evacuating(out.Plan.Built.Model))
		// Nodes leave the topology first, while the live entry still says
		// why (its leaving state), which the webhook's guard reads.
		var dropErr error
		if l.opts.Drift == DriftCorrect {
			var n int
			n, dropErr = l.dropLeftNodes(ctx, out.Plan.Built.Model)
			out.Writes += n
			n, err := l.evacuateAPIVolumes(ctx, out.Plan.Built.Model)
			out.Writes += n
			dropErr = errors.Join(dropErr, err)
		}
		out.Apply, out.ApplyErr = apply.Run(ctx, l.opts.Config, out.Plan.Plan.Objects, l.applyOptions())
		out.ApplyErr = errors.Join(out.ApplyErr, dropErr)
		out.Drift = drifted(out.Apply)
		if l.opts.Drift == DriftCorrect {
			out.Writes += objectWrites(out.Apply)
		}
	}
	if ctx.Err() != nil {
		return out
	}
	l.record(ctx, &out)
	n, err := l.writeStatus(ctx, &out)
	out.Writes += n
	if err != nil {
		out.StatusErr = err
		l.log.Warn("status not written", "err", err)
	}
	return out
}

// Plan reads the inputs as `plan --from-cluster` does and runs the one
// pipeline on them at the current time: the plan a pass applies.
func (l *Loop) Plan(ctx context.Context) (*pipeline.Result, error) {
	return l.plan(ctx, time.Now())
}

// plan is Plan at the pass's clock now (evacuation timeouts).
func (l *Loop) plan(ctx context.Context, now time.Time) (*pipeline.Result, error) {
	read, err := apply.ReadClusterInputs(ctx, l.opts.Config, l.opts.Kinds, "")
	if err != nil {
		return nil, fmt.Errorf("read the plan's inputs: %w", err)
	}
	opts := l.opts.Pipeline
	opts.Files, opts.BatchGC = nil, false
	opts.Build.Now = now
	opts.Sources = make([]plan.Source, 0, len(read))
	for _, s := range read {
		opts.Sources = append(opts.Sources, plan.Source{Name: s.Name, Data: s.Data})
	}
	return pipeline.Run(ctx, opts)
}

func (l *Loop) applyOptions() apply.Options {
	o := apply.DefaultOptions()
	o.Namespace = l.opts.Namespace
	o.ApplySetName = l.opts.ApplySetName
	o.Keep = l.opts.Keep
	o.Prune = true
	o.FieldManager = l.opts.FieldManager
	// The loop is the datastore's authority: a field someone changed by
	// hand (kubectl edit takes its ownership) is put back.
	o.ForceConflicts = true
	if l.opts.Drift == DriftReport {
		o.DryRun = apply.DryRunServer
	}
	return o
}

// drifted are the objects that differed from the plan: missing, changed
// or left over. An object whose only change is that the loop now co-owns
// fields another manager applied with the same values (the first pass
// after `piraeusctl apply` or Argo CD) did not drift.
func drifted(res *apply.Result) []apply.Change {
	if res == nil {
		return nil
	}
	var out []apply.Change
	for _, c := range res.Changes {
		switch {
		case c.Action == apply.Created, c.Action == apply.Pruned,
			c.Action == apply.Configured && len(c.Fields) > 0:
			out = append(out, c)
		}
	}
	return out
}

// objectWrites counts the engine's writes to objects.
func objectWrites(res *apply.Result) int {
	if res == nil {
		return 0
	}
	return res.Summary[apply.Created] + res.Summary[apply.Configured] + res.Summary[apply.Pruned]
}

// evacuating reports whether a node of the plan is being evacuated.
func evacuating(m *plan.Model) bool {
	for _, l := range m.Leaving {
		if l.State == plan.LeavingEvacuating || l.State == plan.LeavingWaiting {
			return true
		}
	}
	return false
}
