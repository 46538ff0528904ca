package plan

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	"github.com/piraeusctl/piraeusctl/plan/placement"
)

// BuildOptions configure Build.
type BuildOptions struct {
	LoadOptions
	// Placement tunes the autoplacer.
	Placement placement.Options
	// Previous is the topology of the last plan (from --previous); it wins
	// over a StorageTopology found among the sources. It is validated like
	// one (ValidatePreviousTopology).
	Previous *storagev1alpha1.StorageTopologySpec
	// PreviousVolumes are the last plan's volumes (from --previous); for a
	// name found among the sources too, these win. Validated like inputs.
	PreviousVolumes []storagev1alpha1.StorageVolume
	// PreviousSource names where Previous came from, for error messages.
	PreviousSource string
	// Explain keeps each replica's reason in the topology (plan --explain);
	// without it reasons are dropped so plan diffs stay quiet.
	Explain bool
	// Now is the plan's time, an input like the others so the plan stays
	// pure: a node that starts leaving records it (NodeLeaving.Since), and
	// the evacuation strategy's timeouts are measured against it. The CLI
	// gives the current time (or --now), the operator its pass's clock.
	// Zero: no clock; nothing is timestamped and no timeout but 0 expires.
	Now time.Time
}

// Built is the outcome of Build: the model with every volume placed.
type Built struct {
	Model     *Model
	Placement *placement.Result
}

// Build loads the sources and places every volume, keeping the placements
// and allocations of the previous volumes. Every previous volume stays in the
// plan: a volume leaves only when its object is deleted by name.
func Build(ctx context.Context, sources []Source, opts BuildOptions) (*Built, error) {
	if errs := validatePrevious(opts); len(errs) > 0 {
		return nil, errs
	}
	m, err := Load(ctx, sources, opts.LoadOptions)
	if err != nil {
		return nil, err
	}
	previous := opts.Previous
	if previous == nil {
		previous = m.Previous
	}
	if previous != nil && previous.Allocation != (storagev1alpha1.AllocationSettings{}) {
		m.Topology.Spec.Allocation = previous.Allocation
	}
	prevVols := mergeByName(m.PreviousVolumes, opts.PreviousVolumes, func(v storagev1alpha1.StorageVolume) string { return v.Name })
	m.PreviousVolumes = prevVols
	now := opts.Now.UTC().Truncate(time.Second) // as the topology records it
	m.leavingNodes(previous, now)
	vols := volumesToPlace(m.Volumes, prevVols)
	keepAPIResourceGroups(&m.Topology.Spec, previous, vols)
	popts := opts.Placement
	popts.Ledgers = m.Allocations
	popts.Now = now
	res, err := placement.Place(&m.Topology.Spec, vols, prevVols, popts)
	if res == nil {
		return nil, fmt.Errorf("place volumes: %w", err)
	}
	m.settleLeaving(res)
	m.Warnings = append(m.Warnings, m.leavingWarnings(res)...)
	m.Volumes = cleanVolumes(res.Volumes, opts.Explain)
	return &Built{Model: m, Placement: res}, err
}

// validatePrevious checks a previous plan given outside the sources.
func validatePrevious(opts BuildOptions) ErrorList {
	var errs ErrorList
	if opts.Previous != nil {
		errs = append(errs, previousErrors(opts.PreviousSource, "StorageTopology/"+TopologyName, ValidatePreviousTopology(opts.Previous))...)
	}
	for i := range opts.PreviousVolumes {
		v := &opts.PreviousVolumes[i]
		errs = append(errs, previousErrors(opts.PreviousSource, "StorageVolume/"+v.Name, validatePreviousVolume(opts.Previous, v))...)
	}
	return errs
}

// volumesToPlace are the derived volumes, each continuing its previous
// volume of the same name when there is one (its properties, layers and
// replicas; the claim's size when it grew), and every previous volume no
// claim derives any more.
func volumesToPlace(derived, previous []storagev1alpha1.StorageVolume) []storagev1alpha1.StorageVolume {
	prev := map[string]*storagev1alpha1.StorageVolume{}
	for i := range previous {
		prev[previous[i].Name] = &previous[i]
	}
	out := make([]storagev1alpha1.StorageVolume, 0, len(derived)+len(previous))
	seen := map[string]bool{}
	for _, d := range derived {
		seen[d.Name] = true
		p := prev[d.Name]
		if p == nil {
			out = append(out, d)
			continue
		}
		v := *p.DeepCopy()
		v.TypeMeta = d.TypeMeta
		v.Spec.ResourceGroup = d.Spec.ResourceGroup
		v.Spec.Claim = d.Spec.Claim
		v.Spec.PersistentVolume = cmp.Or(d.Spec.PersistentVolume, v.Spec.PersistentVolume)
		v.Spec.Volumes = grownVolumes(v.Spec.Volumes, d.Spec.Volumes)
		out = append(out, v)
	}
	for _, p := range previous {
		if !seen[p.Name] {
			out = append(out, *p.DeepCopy())
		}
	}
	return out
}

// grownVolumes keeps the previous volume definitions, with volume 0 grown
// to the claim's size (a volume never shrinks).
func grownVolumes(prev, derived []storagev1alpha1.VolumeDefinition) []storagev1alpha1.VolumeDefinition {
	if len(prev) == 0 {
		return derived
	}
	out := slices.Clone(prev)
	if len(derived) > 0 && out[0].SizeBytes < derived[0].SizeBytes {
		out[0].SizeBytes = derived[0].SizeBytes
	}
	return out
}

// keepAPIResourceGroups carries over the previous topology's resource
// groups that no StorageClass derives (made through the LINSTOR API) while
// a volume still uses them.
func keepAPIResourceGroups(spec, previous *storagev1alpha1.StorageTopologySpec, vols []storagev1alpha1.StorageVolume) {
	if previous == nil {
		return
	}
	used := map[string]bool{}
	for _, v := range vols {
		used[v.Spec.ResourceGroup] = true
	}
	for _, rg := range previous.ResourceGroups {
		if used[rg.Name] && !slices.ContainsFunc(spec.ResourceGroups, func(g storagev1alpha1.ResourceGroup) bool { return g.Name == rg.Name }) {
			spec.ResourceGroups = append(spec.ResourceGroups, rg)
		}
	}
	slices.SortFunc(spec.ResourceGroups, func(a, b storagev1alpha1.ResourceGroup) int { return cmp.Compare(a.Name, b.Name) })
}

// cleanVolumes are placed volumes as the plan renders them: name and spec
// only (what the cluster added, uid and status, is the cluster's), and
// without the replicas' reasons unless explained.
func cleanVolumes(vols []storagev1alpha1.StorageVolume, explain bool) []storagev1alpha1.StorageVolume {
	out := make([]storagev1alpha1.StorageVolume, len(vols))
	for i, v := range vols {
		out[i] = storagev1alpha1.StorageVolume{
			TypeMeta:   metav1.TypeMeta{APIVersion: storagev1alpha1.GroupVersion.String(), Kind: "StorageVolume"},
			ObjectMeta: metav1.ObjectMeta{Name: v.Name},
			Spec:       v.Spec,
		}
		if !explain {
			for j := range out[i].Spec.Replicas {
				out[i].Spec.Replicas[j].Reason = ""
			}
		}
	}
	return out
}

// previousErrors positions the errors of a previous plan given outside the
// sources (a plan file, whose positions are not kept).
func previousErrors(source, object string, errs field.ErrorList) ErrorList {
	if source == "" {
		source = "previous plan"
	}
	out := make(ErrorList, len(errs))
	for i, fe := range errs {
		out[i] = &Error{Pos: Position{Source: source}, Object: object, Field: fe.Field, Message: fieldErrorMessage(fe)}
	}
	return out
}

// PodClaims lists the input Pods with the claims they mount, for what-if reports.
func (m *Model) PodClaims() []placement.PodClaims {
	out := make([]placement.PodClaims, 0, len(m.Pods))
	for i := range m.Pods {
		out = append(out, podClaims(&m.Pods[i]))
	}
	return out
}

func podClaims(p *corev1.Pod) placement.PodClaims {
	pc := placement.PodClaims{Namespace: p.Namespace, Name: p.Name, Node: p.Spec.NodeName, Claims: []string{}}
	for _, v := range p.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			pc.Claims = append(pc.Claims, v.PersistentVolumeClaim.ClaimName)
		}
	}
	return pc
}
