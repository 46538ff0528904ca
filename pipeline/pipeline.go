// Package pipeline is the one plan pipeline: read the spec sources, build
// the model (load, validate, place every volume), render it. The CLI
// commands (plan, export, diff, apply), the tests and the in-cluster
// operator loop all call Run, so they plan alike; each then prints,
// exports, diffs or applies the result.
//
// It is the counterpart of tanka's tanka.Show: options in, a plain value
// out. Warnings (problems that do not stop the plan) come back in the
// result, for the caller to print, return as admission warnings, or turn
// into errors.
package pipeline

import (
	"context"
	"errors"
	"io"
	"os"
	"runtime/debug"

	"github.com/piraeusctl/piraeusctl/plan"
	"github.com/piraeusctl/piraeusctl/render"
)

// Options configure Run.
type Options struct {
	// Files are spec files, folders (read recursively) or "-" for Stdin.
	Files []string
	// Stdin is read for the file "-".
	Stdin io.Reader
	// Sources are further inputs read elsewhere (e.g. from a cluster).
	Sources []plan.Source
	// Build configures loading and placement.
	Build plan.BuildOptions
	// Render configures rendering.
	Render render.Options
	// BatchGC trades memory for speed in one-shot processes (see
	// batchGCPercent); it changes the process-wide GC setting unless GOGC
	// is set, so long-running components leave it off.
	BatchGC bool
}

// Result is a planned and rendered datastore.
type Result struct {
	// Built is the model with every volume placed.
	Built *plan.Built
	// Plan is the rendered plan.
	Plan *render.Plan
}

// Warnings are the model's and the render's warnings, in that order.
func (r *Result) Warnings() plan.ErrorList {
	return append(append(plan.ErrorList(nil), r.Built.Model.Warnings...), r.Plan.Warnings...)
}

// ErrNoInput is returned when neither files nor sources are given.
var ErrNoInput = errors.New("no input")

// batchGCPercent trades memory for speed in the one-shot planning commands:
// at 1000 nodes the heap stays near 350 MiB and a third less time goes to GC.
const batchGCPercent = 300

// Run reads the sources, builds the model and renders it. Invalid input
// returns plan's ErrorList (every problem, with file, line and field).
func Run(ctx context.Context, opts Options) (*Result, error) {
	if opts.BatchGC && os.Getenv("GOGC") == "" {
		debug.SetGCPercent(batchGCPercent)
	}
	if len(opts.Files) == 0 && len(opts.Sources) == 0 {
		return nil, ErrNoInput
	}
	srcs, warnings, err := plan.ReadSources(ctx, opts.Files, opts.Stdin)
	if err != nil {
		return nil, err
	}
	opts.Build.Warnings = append(append(plan.ErrorList(nil), opts.Build.Warnings...), warnings...)
	built, err := plan.Build(ctx, append(srcs, opts.Sources...), opts.Build)
	if err != nil {
		return nil, err
	}
	rendered, err := render.Render(ctx, built.Model, opts.Render)
	if err != nil {
		return nil, err
	}
	return &Result{Built: built, Plan: rendered}, nil
}
