package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	"github.com/piraeusctl/piraeusctl/apply"
	"github.com/piraeusctl/piraeusctl/operator"
	"github.com/piraeusctl/piraeusctl/pipeline"
	"github.com/piraeusctl/piraeusctl/plan"
	"github.com/piraeusctl/piraeusctl/plan/placement"
	"github.com/piraeusctl/piraeusctl/planfile"
	"github.com/piraeusctl/piraeusctl/render"
)

// specFlags are the flags every command that builds a plan shares.
type specFlags struct {
	files            []string
	namespace        string
	templatesDir     string
	images           []string
	passthroughKinds []string
	passthroughAll   bool
	previous         string
	allowUnplaced    bool
	strict           bool
	now              string
}

func (f *specFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringArrayVarP(&f.files, "filename", "f", nil, "spec file, directory (recursive: *.yaml, *.yml, *.json) or - for stdin; repeatable")
	fs.StringVarP(&f.namespace, "namespace", "n", plan.DefaultNamespace, "namespace of the datastore's objects")
	fs.StringVar(&f.templatesDir, "templates", "", "directory of Jsonnet templates searched before the embedded ones")
	fs.StringArrayVar(&f.images, "image", nil, "override an image, NAME=REF (names as in `piraeusctl plan --help-images`); repeatable")
	fs.StringArrayVar(&f.passthroughKinds, "passthrough-kind", nil, "copy objects of this kind (Kind or Kind.group) into the plan unchanged; repeatable")
	fs.BoolVar(&f.passthroughAll, "passthrough-all", false, "copy objects of every other kind into the plan unchanged")
	fs.StringVar(&f.previous, "previous", "", "previous plan (or StorageTopology) whose placements and allocations are kept")
	fs.BoolVar(&f.allowUnplaced, "allow-unplaced", false, "report volumes that cannot be placed and go on")
	fs.BoolVar(&f.strict, "strict", false, "treat warnings about the input (patch targets or selectors matching nothing, skipped files, ...) as errors")
	fs.StringVar(&f.now, "now", "", "the plan's time (RFC 3339, default: the current time): when a node starting to leave is recorded, and what evacuation timeouts are measured against")
	_ = cmd.MarkFlagFilename("filename", "yaml", "yml", "json")
	_ = cmd.MarkFlagDirname("templates")
	_ = cmd.MarkFlagFilename("previous", "yaml", "yml", "json")
}

// options turns the flags into the pipeline's options; extra are inputs
// read elsewhere (--from-cluster).
func (f *specFlags) options(cmd *cobra.Command, explain bool, extra []plan.Source) (pipeline.Options, error) {
	if len(f.files) == 0 && len(extra) == 0 {
		return pipeline.Options{}, errors.New("no input: give -f FILE|DIR|- (repeatable)")
	}
	opts, err := f.renderOptions(explain)
	if err != nil {
		return opts, err
	}
	opts.Files, opts.Stdin, opts.Sources, opts.BatchGC = f.files, cmd.InOrStdin(), extra, true
	opts.Build.Now = time.Now()
	if f.now != "" {
		if opts.Build.Now, err = time.Parse(time.RFC3339, f.now); err != nil {
			return opts, fmt.Errorf("--now %q: expected an RFC 3339 time such as 2026-01-02T15:04:05Z", f.now)
		}
	}
	if f.previous != "" {
		prev, vols, err := planfile.ReadPrevious(f.previous)
		if err != nil {
			return opts, fmt.Errorf("previous plan %s: %w", f.previous, err)
		}
		opts.Build.Previous, opts.Build.PreviousVolumes, opts.Build.PreviousSource = prev, vols, f.previous
	}
	return opts, nil
}

// renderOptions are the pipeline's options without inputs: how to build
// and render (the operator adds the cluster's inputs at every pass).
func (f *specFlags) renderOptions(explain bool) (pipeline.Options, error) {
	opts := pipeline.Options{
		Build: plan.BuildOptions{
			LoadOptions: plan.LoadOptions{
				Namespace:        f.namespace,
				PassthroughKinds: f.passthroughKinds,
				PassthroughAll:   f.passthroughAll,
			},
			Placement: placement.DefaultOptions(),
			Explain:   explain,
		},
		Render: render.Options{TemplatesDir: f.templatesDir, Images: map[string]string{}, Version: imageVersion()},
	}
	opts.Build.Placement.AllowUnplaced = f.allowUnplaced
	for _, kv := range f.images {
		name, ref, ok := strings.Cut(kv, "=")
		if !ok || name == "" || ref == "" {
			return opts, fmt.Errorf("--image %q: expected NAME=REF", kv)
		}
		opts.Render.Images[name] = ref
	}
	return opts, nil
}

// imageVersion is the tag of our own image: the stamped version (the tag
// `make image` gives the image built with this binary), unless the binary
// is unstamped (go run, go test), which uses the tag render ships.
func imageVersion() string {
	if version == "dev" {
		return ""
	}
	return version
}

// plan runs the pipeline on the spec (and extra inputs) and reports its
// warnings.
func (f *specFlags) plan(cmd *cobra.Command, explain bool, extra ...plan.Source) (*pipeline.Result, error) {
	opts, err := f.options(cmd, explain, extra)
	if err != nil {
		return nil, err
	}
	res, err := pipeline.Run(cmd.Context(), opts)
	if err != nil {
		return nil, err
	}
	if err := f.reportWarnings(cmd.ErrOrStderr(), res.Warnings()); err != nil {
		return nil, err
	}
	return res, nil
}

// reportWarnings prints each warning on w; with --strict they are errors.
func (f *specFlags) reportWarnings(w io.Writer, warnings plan.ErrorList) error {
	if len(warnings) == 0 {
		return nil
	}
	if f.strict {
		return fmt.Errorf("--strict: %d warning(s):\n%w", len(warnings), warnings)
	}
	for _, wr := range warnings {
		fmt.Fprintln(w, "warning:", wr)
	}
	return nil
}

type planOptions struct {
	spec        specFlags
	kube        kubeFlags
	fromCluster bool
	output      string
	out         string
	summary     bool
	explain     bool
	failNodes   []string
	diffAgainst string
}

func newPlanCommand() *cobra.Command {
	o := &planOptions{}
	cmd := &cobra.Command{
		Use:   "plan -f SPEC [-f SPEC...]",
		Short: "Render the complete desired state: every manifest and the storage topology",
		Long: `plan reads the YAML a Piraeus user has (piraeus.io/v1 LinstorCluster,
LinstorSatelliteConfiguration and LinstorNodeConnection objects, Nodes as
kubectl get -o yaml prints them, StorageClasses, PersistentVolumeClaims and
PersistentVolumes), validates it, places every volume and prints the whole
desired state: Namespace, CRDs, RBAC, the seven components' workloads, the
CSIDriver, StorageClasses and the StorageTopology, in a stable order. The same
inputs in any order give the same bytes.

Exit codes: 0 success (with --diff-against: no difference), 1 differences
found (--diff-against), 2 invalid input or any other error.`,
		Example: `  # Print the plan of a folder of specs
  piraeusctl plan -f spec/

  # Keep the placements of the last committed plan and show what changes
  piraeusctl plan -f spec/ --previous deploy/plan.yaml --diff-against deploy/plan.yaml

  # Why is every replica where it is?
  piraeusctl plan -f spec/ --explain

  # Plan from what the cluster holds (Nodes, StorageClasses, PVCs, piraeus.io objects)
  piraeusctl plan --from-cluster --context prod

  # What if worker-1 and worker-2 die?
  piraeusctl plan -f spec/ --fail-node worker-1,worker-2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd) },
	}
	o.spec.register(cmd)
	o.kube.register(cmd, false)
	fs := cmd.Flags()
	fs.BoolVar(&o.fromCluster, "from-cluster", false, "also read Nodes, StorageClasses, PVCs, PVs and the piraeus.io objects from the cluster (--kubeconfig, --context)")
	fs.StringVarP(&o.output, "output", "o", "yaml", "output format: yaml or json")
	fs.StringVar(&o.out, "out", "", "write the plan to this file instead of standard output")
	fs.BoolVar(&o.summary, "summary", false, "print a summary of the plan (with --out, the full plan goes to the file)")
	fs.BoolVar(&o.explain, "explain", false, "print why every replica is where it is instead of the plan")
	fs.StringSliceVar(&o.failNodes, "fail-node", nil, "print what happens if these nodes die (comma-separated) instead of the plan")
	fs.StringVar(&o.diffAgainst, "diff-against", "", "compare the plan with this plan file; exit 1 when they differ")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"yaml", "json"}, cobra.ShellCompDirectiveNoFileComp))
	// Each mode prints something else instead of the plan; --out only
	// goes with the plan itself (and --summary, which then prints beside it).
	cmd.MarkFlagsMutuallyExclusive("explain", "fail-node", "diff-against", "summary")
	cmd.MarkFlagsMutuallyExclusive("explain", "fail-node", "diff-against", "out")
	return cmd
}

func (o *planOptions) run(cmd *cobra.Command) error {
	if o.output != "yaml" && o.output != "json" {
		return fmt.Errorf("--output %q: expected yaml or json", o.output)
	}
	extra, err := o.clusterSources(cmd)
	if err != nil {
		return err
	}
	res, err := o.spec.plan(cmd, o.explain, extra...)
	if err != nil {
		return err
	}
	built, rendered := res.Built, res.Plan
	stdout := cmd.OutOrStdout()
	switch {
	case len(o.failNodes) > 0:
		return o.writeWhatIf(stdout, built)
	case o.explain:
		if o.output == "json" {
			return writeJSON(stdout, explanation{
				Volumes: explainedVolumes(built.Placement.Volumes), Moves: built.Placement.Moves, Unplaced: built.Placement.Unplaced,
			})
		}
		return built.Placement.WriteExplanation(stdout)
	case o.diffAgainst != "":
		return diffPlanFiles(stdout, o.diffAgainst, rendered.Objects)
	}
	return o.writePlan(cmd, built, rendered)
}

// clusterSources reads the spec objects from the cluster (--from-cluster).
func (o *planOptions) clusterSources(cmd *cobra.Command) ([]plan.Source, error) {
	if !o.fromCluster {
		return nil, nil
	}
	cfg, err := o.kube.restConfig()
	if err != nil {
		return nil, err
	}
	read, err := apply.ReadClusterInputs(cmd.Context(), cfg, operator.InputKinds, "") // claims of every namespace
	if err != nil {
		return nil, fmt.Errorf("read the spec from the cluster: %w", err)
	}
	out := make([]plan.Source, len(read))
	for i, s := range read {
		out[i] = plan.Source{Name: s.Name, Data: s.Data}
	}
	return out, nil
}

func (o *planOptions) writeWhatIf(w io.Writer, built *plan.Built) error {
	report, err := placement.WhatIf(&built.Model.Topology.Spec, built.Model.Volumes, o.failNodes, built.Model.PodClaims())
	if err != nil {
		return err
	}
	if o.output == "json" {
		return writeJSON(w, report)
	}
	return report.WriteText(w)
}

// writePlan prints the plan, or replaces the --out file with it whole.
func (o *planOptions) writePlan(cmd *cobra.Command, built *plan.Built, rendered *render.Plan) error {
	if o.summary && o.out == "" {
		return render.WriteSummary(cmd.OutOrStdout(), rendered, &built.Model.Topology.Spec, built.Placement)
	}
	var buf bytes.Buffer
	var w io.Writer = &buf
	if o.out == "" {
		w = cmd.OutOrStdout()
	}
	var err error
	if o.output == "json" {
		err = planfile.WriteJSON(w, rendered.Objects)
	} else {
		err = planfile.WriteYAML(w, rendered.Objects)
	}
	if err != nil {
		return err
	}
	if o.out != "" {
		if err := planfile.WriteFile(o.out, buf.Bytes()); err != nil {
			return fmt.Errorf("write plan: %w", err)
		}
	}
	if o.summary {
		if err := render.WriteSummary(cmd.OutOrStdout(), rendered, &built.Model.Topology.Spec, built.Placement); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "\nFull plan written to %s\n", o.out)
	}
	return nil
}

// explanation is plan --explain -o json: every volume with its replicas and
// their reasons, and what moved or could not be placed.
type explanation struct {
	Volumes  []explainedVolume    `json:"volumes"`
	Moves    []placement.Move     `json:"moves,omitempty"`
	Unplaced []placement.Unplaced `json:"unplaced,omitempty"`
}

// explainedVolume is one volume of plan --explain -o json.
type explainedVolume struct {
	Name          string                    `json:"name"`
	ResourceGroup string                    `json:"resourceGroup"`
	SizeBytes     int64                     `json:"sizeBytes"`
	Replicas      []storagev1alpha1.Replica `json:"replicas,omitempty"`
}

func explainedVolumes(vols []storagev1alpha1.StorageVolume) []explainedVolume {
	out := make([]explainedVolume, len(vols))
	for i, v := range vols {
		out[i] = explainedVolume{Name: v.Name, ResourceGroup: v.Spec.ResourceGroup, SizeBytes: v.Spec.SizeBytes(), Replicas: v.Spec.Replicas}
	}
	return out
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
