package plan

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
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
	// PreviousSource names where Previous came from, for error messages.
	PreviousSource string
	// Explain keeps each replica's reason in the topology (plan --explain);
	// without it reasons are dropped so plan diffs stay quiet.
	Explain bool
}

// Built is the outcome of Build: the model with every volume placed.
type Built struct {
	Model     *Model
	Placement *placement.Result
}

// Build loads the sources and places every volume, keeping the placements
// and allocations of the previous topology.
func Build(ctx context.Context, sources []Source, opts BuildOptions) (*Built, error) {
	if opts.Previous != nil {
		if errs := ValidatePreviousTopology(opts.Previous); len(errs) > 0 {
			return nil, previousErrors(opts.PreviousSource, errs)
		}
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
	res, err := placement.Place(&m.Topology.Spec, previous, opts.Placement)
	if res == nil {
		return nil, fmt.Errorf("place volumes: %w", err)
	}
	m.Topology.Spec = *res.Spec
	if !opts.Explain {
		dropReasons(&m.Topology.Spec)
	}
	return &Built{Model: m, Placement: res}, err
}

// previousErrors positions the errors of a previous topology given outside
// the sources (a plan file, whose positions are not kept).
func previousErrors(source string, errs field.ErrorList) ErrorList {
	if source == "" {
		source = "previous plan"
	}
	out := make(ErrorList, len(errs))
	for i, fe := range errs {
		out[i] = &Error{Pos: Position{Source: source}, Object: "StorageTopology/" + TopologyName, Field: fe.Field, Message: fieldErrorMessage(fe)}
	}
	return out
}

func dropReasons(spec *storagev1alpha1.StorageTopologySpec) {
	for i := range spec.Volumes {
		for j := range spec.Volumes[i].Replicas {
			spec.Volumes[i].Replicas[j].Reason = ""
		}
	}
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
