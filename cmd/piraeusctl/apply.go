package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/piraeusctl/piraeusctl/apply"
)

// applyFlags are the flags of `piraeusctl apply`.
type applyFlags struct {
	kube           kubeFlags
	planPath       string
	prune, wait    bool
	timeout        time.Duration
	dryRun, output string
	forceConflicts bool
}

func newApplyCommand() *cobra.Command {
	f := &applyFlags{}
	cmd := &cobra.Command{
		Use:   "apply --plan FILE|DIR",
		Short: "Converge the cluster to a rendered plan with server-side apply",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return f.run(cmd) },
	}
	f.kube.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.planPath, "plan", "", "rendered objects: a multi-document YAML file or a folder from export")
	fl.BoolVar(&f.prune, "prune", false, "delete objects of the ApplySet that left the plan (never PVs, PVCs or storage state)")
	fl.BoolVar(&f.wait, "wait", false, "wait until CRDs, Deployments and DaemonSets are ready")
	fl.DurationVar(&f.timeout, "timeout", 5*time.Minute, "how long --wait waits")
	fl.StringVar(&f.dryRun, "dry-run", "none", "none, client or server")
	fl.BoolVar(&f.forceConflicts, "force-conflicts", false, "take ownership of fields other field managers own")
	fl.StringVarP(&f.output, "output", "o", "text", "text or json")
	return cmd
}

func (f *applyFlags) run(cmd *cobra.Command) error {
	if f.planPath == "" {
		return &exitError{code: exitInvalid, err: errors.New("--plan is required")}
	}
	if f.output != "text" && f.output != "json" {
		return &exitError{code: exitInvalid, err: fmt.Errorf("unknown output %q: use text or json", f.output)}
	}
	objs, err := apply.ReadManifests(f.planPath)
	if err != nil {
		return &exitError{code: exitInvalid, err: err}
	}
	cfg, err := f.kube.clientOptions().RESTConfig()
	if err != nil {
		return &exitError{code: exitInvalid, err: err}
	}
	opts := apply.DefaultOptions()
	opts.Namespace = f.kube.clientOptions().ResolvedNamespace(opts.Namespace)
	opts.Prune, opts.Wait, opts.Timeout = f.prune, f.wait, f.timeout
	opts.DryRun, opts.ForceConflicts = apply.DryRun(f.dryRun), f.forceConflicts
	if f.output == "text" {
		opts.Progress = cmd.ErrOrStderr()
	}
	res, runErr := apply.Run(cmd.Context(), cfg, objs, opts)
	if err := writeApplyResult(cmd, f.output, res); err != nil {
		return err
	}
	if runErr != nil {
		return &exitError{code: exitInvalid, err: runErr}
	}
	return nil
}

func writeApplyResult(cmd *cobra.Command, output string, res *apply.Result) error {
	if res == nil {
		return nil
	}
	if output == "json" {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	_, err := fmt.Fprintln(cmd.OutOrStdout(), res.SummaryLine())
	return err
}

// diffFlags are the flags of `piraeusctl diff --live`.
type diffFlags struct {
	kube     kubeFlags
	planPath string
	live     bool
}

func newDiffLiveCommand() *cobra.Command {
	f := &diffFlags{}
	cmd := &cobra.Command{
		Use:   "diff --live --plan FILE|DIR",
		Short: "Show how the cluster differs from a rendered plan (exit 1 when it does)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return f.run(cmd) },
	}
	f.kube.register(cmd)
	cmd.Flags().StringVar(&f.planPath, "plan", "", "rendered objects: a multi-document YAML file or a folder from export")
	cmd.Flags().BoolVar(&f.live, "live", true, "compare with the live cluster through a server-side dry run")
	return cmd
}

func (f *diffFlags) run(cmd *cobra.Command) error {
	if f.planPath == "" || !f.live {
		return &exitError{code: exitInvalid, err: errors.New("diff --live needs --plan")}
	}
	objs, err := apply.ReadManifests(f.planPath)
	if err != nil {
		return &exitError{code: exitInvalid, err: err}
	}
	cfg, err := f.kube.clientOptions().RESTConfig()
	if err != nil {
		return &exitError{code: exitInvalid, err: err}
	}
	ns := f.kube.clientOptions().ResolvedNamespace(apply.DefaultOptions().Namespace)
	res, err := apply.Diff(cmd.Context(), cfg, objs, apply.DiffOptions{Namespace: ns})
	if err != nil {
		return &exitError{code: exitInvalid, err: err}
	}
	if err := res.WriteText(cmd.OutOrStdout()); err != nil {
		return err
	}
	if res.Changed() {
		return &exitError{code: exitChanged, err: errors.New("differences found")}
	}
	return nil
}
