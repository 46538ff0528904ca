package main

import (
	"errors"
	"io"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/piraeusctl/piraeusctl/internal/objdiff"
	"github.com/piraeusctl/piraeusctl/planfile"
)

func newDiffCommand() *cobra.Command {
	src := &objectSource{}
	cmd := &cobra.Command{
		Use:   "diff OLD NEW | diff -f SPEC | diff --plan FILE|DIR",
		Short: "Show per-object differences: between two plans, or between the plan and the cluster",
		Long: `With two arguments, diff compares two plans (files written by plan, or folders
written by export) object by object.

With -f SPEC (planned on the spot) or --plan FILE|DIR, it compares the plan
with the live cluster, like kubectl diff: each object is sent as a server-side
dry-run apply, so defaults filled in by the API server do not show as drift.

Each changed object gets a unified diff headed by its name. Exit codes, as
diff and kubectl diff: 0 no differences, 1 differences, 2 error.`,
		Example: `  piraeusctl diff deploy/plan.yaml new-plan.yaml
  piraeusctl diff -f spec/                    # what apply -f spec/ would change
  piraeusctl diff --plan deploy/piraeus/ --context prod`,
		Args: cobra.RangeArgs(0, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch len(args) {
			case 2:
				newPlan, err := planfile.ReadPath(args[1])
				if err != nil {
					return err
				}
				return diffPlanFiles(cmd.OutOrStdout(), args[0], newPlan)
			case 0:
				return diffLive(cmd, src)
			}
			return errors.New("expected two plan files, or -f SPEC / --plan FILE for a live diff")
		},
	}
	src.register(cmd)
	return cmd
}

// diffPlanFiles prints the differences between the plan at oldPath and
// newPlan; differences end the command with exit code 1.
func diffPlanFiles(w io.Writer, oldPath string, newPlan []*unstructured.Unstructured) error {
	oldPlan, err := planfile.ReadPath(oldPath)
	if err != nil {
		return err
	}
	diffs, err := planfile.Diff(oldPlan, newPlan)
	if err != nil {
		return err
	}
	return writeDiffs(w, diffs)
}

// writeDiffs prints plan and live diffs alike; any difference ends the
// command with exit code 1, as diff and kubectl diff do.
func writeDiffs(w io.Writer, diffs []objdiff.ObjectDiff) error {
	if err := objdiff.Write(w, diffs); err != nil {
		return err
	}
	if objdiff.AnyChange(diffs) {
		return &exitError{code: exitChanged}
	}
	return nil
}
