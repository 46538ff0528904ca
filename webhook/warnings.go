package webhook

import (
	"context"
	"encoding/json"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/piraeusctl/piraeusctl/apply"
	"github.com/piraeusctl/piraeusctl/pipeline"
	"github.com/piraeusctl/piraeusctl/plan"
	"github.com/piraeusctl/piraeusctl/plan/placement"
)

// Admission warnings: an object admitted by the checks can still carry
// spec.patches whose target matches nothing. `piraeusctl plan` warns about
// them; so does the webhook, with the same lines (kubectl prints them as
// "Warning: ..."). They come from planning the object with the cluster's
// Nodes and StorageClasses (and, for a satellite configuration, its
// LinstorCluster), as the plan would.

// InputSource gives the objects of the cluster that a plan of an object of
// kind needs besides the object itself.
type InputSource interface {
	Inputs(ctx context.Context, kind string) ([]plan.Source, error)
}

// patchContextKinds are what the rendered objects (the targets of patches)
// depend on: the nodes (one satellite each) and the StorageClasses.
var patchContextKinds = []apply.ClusterKind{
	{GroupVersionKind: schema.GroupVersionKind{Version: "v1", Kind: "Node"}},
	{GroupVersionKind: schema.GroupVersionKind{Group: "storage.k8s.io", Version: "v1", Kind: "StorageClass"}},
}

var linstorClusterKind = apply.ClusterKind{
	GroupVersionKind: schema.GroupVersionKind{Group: "piraeus.io", Version: "v1", Kind: "LinstorCluster"}, Optional: true,
}

// Inputs reads the Nodes and StorageClasses, and the LinstorCluster for a
// LinstorSatelliteConfiguration.
func (l *ClusterLive) Inputs(ctx context.Context, kind string) ([]plan.Source, error) {
	kinds := patchContextKinds
	if kind == "LinstorSatelliteConfiguration" {
		kinds = append(append([]apply.ClusterKind(nil), kinds...), linstorClusterKind)
	}
	read, err := apply.ReadClusterInputs(ctx, l.cfg, kinds, "")
	if err != nil {
		return nil, err
	}
	out := make([]plan.Source, len(read))
	for i, s := range read {
		out[i] = plan.Source{Name: s.Name, Data: s.Data}
	}
	return out, nil
}

// warnings plans an admitted LinstorCluster or LinstorSatelliteConfiguration
// that has spec.patches and returns the plan's warnings about it, as
// admission lines. Planning failures (the cluster's other objects may not
// plan) give no warnings: warnings never decide admission.
func (v *validator) warnings(ctx context.Context, kind, name string, obj []byte) []string {
	if (kind != "LinstorCluster" && kind != "LinstorSatelliteConfiguration") || !hasPatches(obj) {
		return nil
	}
	var srcs []plan.Source
	if v.inputs != nil {
		var err error
		if srcs, err = v.inputs.Inputs(ctx, kind); err != nil {
			v.log.Warn("cannot read the cluster for patch warnings", "kind", kind, "name", name, "err", err)
			return nil
		}
	}
	opts := pipeline.Options{
		Sources: append(srcs, plan.Source{Name: admissionSource, Data: obj}),
		Build: plan.BuildOptions{
			LoadOptions: plan.LoadOptions{Namespace: v.namespace, Schemas: v.schemas},
			Placement:   placement.DefaultOptions(),
		},
	}
	opts.Build.Placement.AllowUnplaced = true // volumes are not what warnings are about
	res, err := pipeline.Run(ctx, opts)
	if err != nil {
		v.log.Info("cannot plan for patch warnings", "kind", kind, "name", name, "err", err)
		return nil
	}
	var out []string
	for _, w := range res.Warnings() {
		if w.Object == kind+"/"+name {
			out = append(out, admissionLine(w))
		}
	}
	return out
}

// admissionSource names the object under review among the plan's sources.
const admissionSource = "admission"

func hasPatches(obj []byte) bool {
	var o struct {
		Spec struct {
			Patches []json.RawMessage `json:"patches"`
		} `json:"spec"`
	}
	return json.Unmarshal(obj, &o) == nil && len(o.Spec.Patches) > 0
}
