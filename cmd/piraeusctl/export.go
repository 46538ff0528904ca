package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/piraeusctl/piraeusctl/plan"
	"github.com/piraeusctl/piraeusctl/planfile"
)

type exportOptions struct {
	spec  specFlags
	dir   string
	force bool
}

func newExportCommand() *cobra.Command {
	o := &exportOptions{}
	cmd := &cobra.Command{
		Use:   "export -f SPEC --dir DIR",
		Short: "Write the plan as one file per object plus kustomization.yaml, for Argo CD or Flux",
		Long: `export renders the plan and writes each object to its own file in DIR, with
stable names, and a kustomization.yaml listing them, so Argo CD or Flux can sync
the folder as it is.

export keeps the list of the files it wrote, with a checksum of each, in
DIR/` + planfile.OwnershipFile + `. It replaces or removes only those, and only while they
hold what it wrote: your own files in DIR are never removed, and never
overwritten unless --force. It refuses to write into /, a home directory, or
the top of a git repository (a folder with .git) that holds no earlier export.`,
		Example: `  piraeusctl export -f spec/ --dir deploy/piraeus
  git -C deploy diff --stat`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := o.spec.plan(cmd, false)
			if err != nil {
				return err
			}
			objs := res.Plan.Objects
			prepared, err := planfile.PrepareExport(objs, o.dir, planfile.ExportOptions{Force: o.force})
			if err != nil {
				return err
			}
			var kept plan.ErrorList
			for _, k := range prepared.Kept {
				kept = append(kept, &plan.Error{Pos: plan.Position{Source: k.Path}, Message: k.Reason})
			}
			if err := o.spec.reportWarnings(cmd.ErrOrStderr(), kept); err != nil {
				return err
			}
			if err := prepared.Write(); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "exported %d objects to %s\n", len(objs), o.dir)
			return err
		},
	}
	o.spec.register(cmd)
	cmd.Flags().StringVar(&o.dir, "dir", "", "folder to write (created if missing)")
	cmd.Flags().BoolVar(&o.force, "force", false, "overwrite files in --dir that export did not write (it still never removes them)")
	_ = cmd.MarkFlagDirname("dir")
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}
