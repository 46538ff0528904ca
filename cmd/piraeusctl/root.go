package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "piraeusctl",
		Short: "Plan, review and converge a replicated block-storage datastore for Kubernetes",
		Long: `piraeusctl does what Piraeus Datastore does (operator, LINSTOR controller and
satellites, DRBD replication, CSI driver, HA controller, certificate generator),
GitOps-style: the whole desired state is first rendered as a plan that people
review, diff and commit, then converged.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newVersionCommand(), newPlanCommand(), newExportCommand(), newDiffCommand(), newApplyCommand())
	root.AddCommand(newAgentCommand(), newControllerCommand())
	root.AddCommand(newGencertCommand(), newOperatorCommand(), newHAControllerCommand(), newCSICommand())
	return root
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the piraeusctl version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), "piraeusctl", version)
			return err
		},
	}
}
