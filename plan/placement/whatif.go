package placement

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
)

// Outcome is what a node failure does to one volume.
type Outcome string

const (
	// OutcomeDataLost: no diskful replica survives.
	OutcomeDataLost Outcome = "DataLost"
	// OutcomeQuorumLost: data survives, but the survivors have no DRBD
	// quorum; the volume is frozen until enough nodes return.
	OutcomeQuorumLost Outcome = "QuorumLost"
	// OutcomeDegraded: quorum holds; the volume runs with fewer replicas.
	OutcomeDegraded Outcome = "Degraded"
)

// PodClaims is a Pod and the PersistentVolumeClaims it uses.
type PodClaims struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Node the Pod runs on; "" when unknown.
	Node string `json:"node,omitempty"`
	// Claims are PVC names in the Pod's namespace.
	Claims []string `json:"claims"`
}

// WhatIfReport answers "what if these nodes die".
type WhatIfReport struct {
	FailedNodes []string `json:"failedNodes"`
	// Volumes that lose at least one replica, sorted by name.
	Volumes []VolumeImpact `json:"volumes"`
	// Replacements: replicas that would be placed elsewhere.
	Replacements []Move `json:"replacements,omitempty"`
	// Unplaceable: volumes that cannot get all their replicas back.
	Unplaceable []Unplaced `json:"unplaceable,omitempty"`
	// Pods affected, sorted by namespace and name.
	Pods []PodImpact `json:"pods,omitempty"`
}

// VolumeImpact is what the failure does to one volume.
type VolumeImpact struct {
	Volume string `json:"volume"`
	// Claim is namespace/name of the PVC, when known.
	Claim   string  `json:"claim,omitempty"`
	Outcome Outcome `json:"outcome"`
	// Diskful replicas before, and how many survive.
	Diskful          int `json:"diskful"`
	SurvivingDiskful int `json:"survivingDiskful"`
	// LostOn lists the failed nodes that held a replica.
	LostOn []string `json:"lostOn"`
}

// PodAction is what happens to a Pod.
type PodAction string

const (
	// PodEvicted: the ha-controller evicts the Pod; it restarts elsewhere.
	PodEvicted PodAction = "Evicted"
	// PodBlocked: a volume of the Pod lost quorum or data; it cannot run
	// until failed nodes return.
	PodBlocked PodAction = "Blocked"
	// PodAtRisk: the Pod's node is unknown; it is evicted if it runs on a failed node.
	PodAtRisk PodAction = "AtRisk"
)

// PodImpact is what the failure does to one Pod.
type PodImpact struct {
	Namespace string    `json:"namespace"`
	Name      string    `json:"name"`
	Node      string    `json:"node,omitempty"`
	Action    PodAction `json:"action"`
	Volumes   []string  `json:"volumes"`
	Reason    string    `json:"reason"`
}

// WhatIf reports what the failure of failedNodes does to placed volumes
// (the Volumes of a Place result) on a topology: volumes that lose quorum or all data,
// replicas that would be re-placed and where, and Pods that would be evicted
// or blocked.
//
// Quorum follows DRBD: the surviving diskful replicas must be a majority of
// the diskful ones; exactly half suffices when a diskless replica (e.g. the
// tie-breaker) survives too.
func WhatIf(spec *storagev1alpha1.StorageTopologySpec, vols []storagev1alpha1.StorageVolume, failedNodes []string, pods []PodClaims) (*WhatIfReport, error) {
	if spec == nil {
		return nil, fmt.Errorf("what-if: no topology spec")
	}
	failed := map[string]bool{}
	for _, n := range failedNodes {
		if !slices.ContainsFunc(spec.Nodes, func(t storagev1alpha1.TopologyNode) bool { return t.Name == n }) {
			return nil, fmt.Errorf("what-if: node %q is not a storage node of the topology", n)
		}
		failed[n] = true
	}
	report := &WhatIfReport{FailedNodes: slices.Sorted(maps.Keys(failed))}
	impacts := map[string]*VolumeImpact{}
	for i := range vols {
		if vi := volumeImpact(&vols[i], failed); vi != nil {
			report.Volumes = append(report.Volumes, *vi)
			impacts[vi.Volume] = vi
		}
	}
	slices.SortFunc(report.Volumes, func(a, b VolumeImpact) int { return cmp.Compare(a.Volume, b.Volume) })
	if err := report.replace(spec, vols, failed); err != nil {
		return nil, err
	}
	report.Pods = podImpacts(vols, failed, impacts, pods)
	return report, nil
}

// volumeImpact is the effect on one volume, nil when it loses nothing.
func volumeImpact(v *storagev1alpha1.StorageVolume, failed map[string]bool) *VolumeImpact {
	vi := VolumeImpact{Volume: v.Name}
	if c := v.Spec.Claim; c != nil {
		vi.Claim = c.Namespace + "/" + c.Name
	}
	disklessSurvives := false
	for _, r := range v.Spec.Replicas {
		if !r.Diskless {
			vi.Diskful++
		}
		switch {
		case failed[r.Node]:
			vi.LostOn = append(vi.LostOn, r.Node)
		case r.Diskless:
			disklessSurvives = true
		default:
			vi.SurvivingDiskful++
		}
	}
	if len(vi.LostOn) == 0 {
		return nil
	}
	s, d := vi.SurvivingDiskful, vi.Diskful
	switch {
	case s == 0:
		vi.Outcome = OutcomeDataLost
	case 2*s > d || (2*s == d && disklessSurvives):
		vi.Outcome = OutcomeDegraded
	default:
		vi.Outcome = OutcomeQuorumLost
	}
	return &vi
}

// replace re-runs placement without the failed nodes.
func (r *WhatIfReport) replace(spec *storagev1alpha1.StorageTopologySpec, vols []storagev1alpha1.StorageVolume, failed map[string]bool) error {
	survivors := spec.DeepCopy()
	survivors.Nodes = slices.DeleteFunc(survivors.Nodes, func(n storagev1alpha1.TopologyNode) bool { return failed[n.Name] })
	res, err := Place(survivors, vols, nil, Options{AllowUnplaced: true})
	if err != nil {
		return fmt.Errorf("what-if: re-placing without %s: %w", strings.Join(r.FailedNodes, ", "), err)
	}
	r.Replacements = res.Moves
	r.Unplaceable = res.Unplaced
	return nil
}

// podImpacts finds the Pods whose claims are affected or which run on a failed node.
func podImpacts(vols []storagev1alpha1.StorageVolume, failed map[string]bool, impacts map[string]*VolumeImpact, pods []PodClaims) []PodImpact {
	byClaim := map[string]string{}
	for _, v := range vols {
		if c := v.Spec.Claim; c != nil {
			byClaim[c.Namespace+"/"+c.Name] = v.Name
		}
	}
	var out []PodImpact
	for _, pod := range pods {
		var vols, broken []string
		for _, c := range pod.Claims {
			if v, ok := byClaim[pod.Namespace+"/"+c]; ok {
				vols = append(vols, v)
				if vi := impacts[v]; vi != nil && vi.Outcome != OutcomeDegraded {
					broken = append(broken, fmt.Sprintf("%s (%s)", v, vi.Outcome))
				}
			}
		}
		if len(vols) == 0 {
			continue
		}
		pi := PodImpact{Namespace: pod.Namespace, Name: pod.Name, Node: pod.Node, Volumes: vols}
		switch {
		case len(broken) > 0:
			pi.Action, pi.Reason = PodBlocked, "cannot run until failed nodes return: "+strings.Join(broken, ", ")
		case failed[pod.Node]:
			pi.Action, pi.Reason = PodEvicted, "runs on failed node "+pod.Node+"; the ha-controller evicts it and it restarts elsewhere, its volumes keep quorum"
		case pod.Node == "" && slices.ContainsFunc(vols, func(v string) bool { return impacts[v] != nil }):
			pi.Action, pi.Reason = PodAtRisk, "node unknown: evicted if it runs on a failed node; its volumes keep quorum"
		default:
			continue
		}
		out = append(out, pi)
	}
	slices.SortFunc(out, func(a, b PodImpact) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return out
}

// WriteText renders the report for people.
func (r *WhatIfReport) WriteText(w io.Writer) error {
	var b strings.Builder
	counts := map[Outcome]int{}
	for _, v := range r.Volumes {
		counts[v.Outcome]++
	}
	fmt.Fprintf(&b, "If %s fail: %s affected (%d lose all data, %d lose quorum, %d degraded).\n",
		strings.Join(r.FailedNodes, ", "), plural(len(r.Volumes), "volume"),
		counts[OutcomeDataLost], counts[OutcomeQuorumLost], counts[OutcomeDegraded])
	if len(r.Volumes) > 0 {
		b.WriteString("\nVolumes:\n")
	}
	for _, v := range r.Volumes {
		claim := ""
		if v.Claim != "" {
			claim = " (" + v.Claim + ")"
		}
		fmt.Fprintf(&b, "  %s%s: %s, %d of %d diskful replicas survive, lost on %s\n",
			v.Volume, claim, v.Outcome, v.SurvivingDiskful, v.Diskful, strings.Join(v.LostOn, ", "))
	}
	if len(r.Replacements)+len(r.Unplaceable) > 0 {
		b.WriteString("\nRe-placement:\n")
	}
	for _, m := range r.Replacements {
		fmt.Fprintf(&b, "  %s: replica on %s -> %s (%s)\n", m.Volume, m.From, m.destination(), m.Why)
	}
	for _, u := range r.Unplaceable {
		fmt.Fprintf(&b, "  %s: only %d of %d diskful replicas can be placed: %s\n", u.Volume, u.Placed, u.Wanted, strings.Join(u.Reasons, "; "))
	}
	if len(r.Pods) > 0 {
		b.WriteString("\nPods:\n")
	}
	for _, p := range r.Pods {
		node := ""
		if p.Node != "" {
			node = " on " + p.Node
		}
		fmt.Fprintf(&b, "  %s/%s%s: %s: %s\n", p.Namespace, p.Name, node, p.Action, p.Reason)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
