package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/piraeusctl/piraeusctl/apply"
	"github.com/piraeusctl/piraeusctl/operator"
	"github.com/piraeusctl/piraeusctl/planfile"
)

// objectSource says where apply and live diff take the objects from: a
// spec that is planned on the spot (-f), or a rendered plan (--plan).
type objectSource struct {
	spec     specFlags
	kube     kubeFlags
	planPath string
}

func (s *objectSource) register(cmd *cobra.Command) {
	s.spec.register(cmd)
	s.kube.register(cmd, false)
	cmd.Flags().StringVar(&s.planPath, "plan", "", "use a rendered plan (a file from plan, or a folder from export) instead of -f")
	cmd.MarkFlagsMutuallyExclusive("plan", "filename")
}

// objects returns the objects to converge to and the namespace of the set.
func (s *objectSource) objects(cmd *cobra.Command) ([]*unstructured.Unstructured, string, error) {
	if s.planPath != "" {
		objs, err := planfile.ReadPath(s.planPath)
		if err != nil {
			return nil, "", err
		}
		return objs, s.spec.namespace, nil
	}
	if len(s.spec.files) == 0 {
		return nil, "", errors.New("no input: give -f SPEC (repeatable) or --plan FILE|DIR")
	}
	res, err := s.spec.plan(cmd, false)
	if err != nil {
		return nil, "", err
	}
	return res.Plan.Objects, s.spec.namespace, nil
}

type applyOptions struct {
	src            objectSource
	prune, wait    bool
	timeout        time.Duration
	dryRun, output string
	forceConflicts bool
}

func newApplyCommand() *cobra.Command {
	o := &applyOptions{}
	cmd := &cobra.Command{
		Use:   "apply -f SPEC | --plan FILE|DIR",
		Short: "Converge the cluster to the plan with server-side apply",
		Long: `apply plans the spec (or reads a rendered plan) and converges the cluster to it
with server-side apply (field manager piraeusctl): Namespaces and CRDs first,
then RBAC, workloads and, last, the webhook configuration. Unchanged objects
cost no write. Progress lines go to stderr, the summary to stdout.

The objects form a kubectl ApplySet in the namespace, so --prune removes the
ones that left the plan — never PersistentVolumes, PersistentVolumeClaims,
storage state (storage.piraeus.io objects) or CRDs that still have objects;
those are reported as kept.

Exit codes: 0 success, 2 invalid input or any failure.`,
		Example: `  # Plan and apply, removing what left the plan, and wait for readiness
  piraeusctl apply -f spec/ --prune --wait --timeout 10m

  # Apply a reviewed plan (a file or an export folder); only show what would happen
  piraeusctl apply --plan deploy/plan.yaml --dry-run=server`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd) },
	}
	o.src.register(cmd)
	fl := cmd.Flags()
	fl.BoolVar(&o.prune, "prune", false, "delete objects of the ApplySet that left the plan (never PVs, PVCs or storage state)")
	fl.BoolVar(&o.wait, "wait", false, "wait until CRDs, Deployments and DaemonSets are ready")
	fl.DurationVar(&o.timeout, "timeout", 5*time.Minute, "how long --wait waits")
	fl.StringVar(&o.dryRun, "dry-run", "none", "none, client or server")
	fl.BoolVar(&o.forceConflicts, "force-conflicts", false, "take ownership of fields other field managers own")
	fl.StringVarP(&o.output, "output", "o", "text", "text or json")
	_ = cmd.RegisterFlagCompletionFunc("dry-run", cobra.FixedCompletions([]string{"none", "client", "server"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func (o *applyOptions) run(cmd *cobra.Command) error {
	if o.output != "text" && o.output != "json" {
		return fmt.Errorf("--output %q: expected text or json", o.output)
	}
	objs, namespace, err := o.src.objects(cmd)
	if err != nil {
		return err
	}
	cfg, err := o.src.kube.restConfig()
	if err != nil {
		return err
	}
	opts := apply.DefaultOptions()
	opts.Namespace = namespace
	opts.Keep = operator.KeepRules()
	opts.Prune, opts.Wait, opts.Timeout = o.prune, o.wait, o.timeout
	opts.DryRun, opts.ForceConflicts = apply.DryRun(o.dryRun), o.forceConflicts
	if o.output == "text" {
		opts.Progress = cmd.ErrOrStderr()
	}
	res, runErr := apply.Run(cmd.Context(), cfg, objs, opts)
	if err := writeApplyResult(cmd, o.output, res); err != nil {
		return err
	}
	return runErr
}

func writeApplyResult(cmd *cobra.Command, output string, res *apply.Result) error {
	if res == nil {
		return nil
	}
	if output == "json" {
		return writeJSON(cmd.OutOrStdout(), res)
	}
	_, err := fmt.Fprintln(cmd.OutOrStdout(), res.SummaryLine())
	return err
}

// diffLive prints how the cluster differs from the objects (server-side dry
// run, so defaults do not show as drift); differences exit with code 1.
func diffLive(cmd *cobra.Command, src *objectSource) error {
	objs, namespace, err := src.objects(cmd)
	if err != nil {
		return err
	}
	cfg, err := src.kube.restConfig()
	if err != nil {
		return err
	}
	diffs, err := apply.Diff(cmd.Context(), cfg, objs, apply.DiffOptions{Namespace: namespace})
	if err != nil {
		return err
	}
	return writeDiffs(cmd.OutOrStdout(), diffs)
}
