package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/piraeusctl/piraeusctl/planfile"
)

type exportOptions struct {
	spec specFlags
	dir  string
}

func newExportCommand() *cobra.Command {
	o := &exportOptions{}
	cmd := &cobra.Command{
		Use:   "export -f SPEC --dir DIR",
		Short: "Write the plan as one file per object plus kustomization.yaml, for Argo CD or Flux",
		Long: `export renders the plan and writes each object to its own file in DIR, with
stable names, and a kustomization.yaml listing them, so Argo CD or Flux can sync
the folder as it is. Files a previous export wrote that are no longer in the
plan are removed; nothing else in DIR is touched.`,
		Example: `  piraeusctl export -f spec/ --dir deploy/piraeus
  git -C deploy diff --stat`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := o.spec.plan(cmd, false)
			if err != nil {
				return err
			}
			objs := res.Plan.Objects
			if err := planfile.Export(objs, o.dir); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "exported %d objects to %s\n", len(objs), o.dir)
			return err
		},
	}
	o.spec.register(cmd)
	cmd.Flags().StringVar(&o.dir, "dir", "", "folder to write (created if missing)")
	_ = cmd.MarkFlagDirname("dir")
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}
