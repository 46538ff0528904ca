package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/piraeusctl/piraeusctl/render"
)

func newDiffCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "diff OLD NEW",
		Short: "Show per-object differences between two plan files",
		Long: `diff compares two plans (files written by plan, or folders written by export)
object by object and prints a unified diff per changed object, naming the
object in each header.

Exit codes, as diff and kubectl diff: 0 no differences, 1 differences, 2 error.`,
		Example: `  piraeusctl plan -f spec/ > new.yaml
  piraeusctl diff deploy/plan.yaml new.yaml`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			newPlan, err := render.ReadPlanPath(args[1])
			if err != nil {
				return invalid(err)
			}
			return diffPlanFiles(cmd.OutOrStdout(), args[0], newPlan)
		},
	}
}

// diffPlanFiles prints the differences between the plan at oldPath and
// newPlan; differences end the command with exit code 1.
func diffPlanFiles(w io.Writer, oldPath string, newPlan *render.Plan) error {
	oldPlan, err := render.ReadPlanPath(oldPath)
	if err != nil {
		return invalid(err)
	}
	diffs, err := render.Diff(oldPlan, newPlan)
	if err != nil {
		return invalid(err)
	}
	for _, d := range diffs {
		if _, err := fmt.Fprint(w, d.Unified); err != nil {
			return err
		}
	}
	if len(diffs) > 0 {
		return &exitError{code: exitChanged}
	}
	return nil
}
