package render

import (
	"fmt"
	"io"
	"sort"
	"text/tabwriter"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	piraeusv1 "github.com/piraeusctl/piraeusctl/api/v1"
	"github.com/piraeusctl/piraeusctl/plan/placement"
)

// WriteSummary prints what a plan holds for people: objects per kind, the
// workloads per component, and the storage topology in figures.
func WriteSummary(w io.Writer, p *Plan, topology *storagev1alpha1.StorageTopologySpec, placed *placement.Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Plan: %d objects\n\nKIND\tCOUNT\n", len(p.Objects))
	kinds, counts := countBy(p, func(kind, _ string) string { return kind })
	for _, k := range kinds {
		fmt.Fprintf(tw, "%s\t%d\n", k, counts[k])
	}
	fmt.Fprintf(tw, "\nCOMPONENT\tWORKLOADS\n")
	comps, ccounts := countBy(p, func(kind, comp string) string {
		if kind != "Deployment" && kind != "DaemonSet" {
			return ""
		}
		return comp + " (" + kind + ")"
	})
	for _, c := range comps {
		if c != "" {
			fmt.Fprintf(tw, "%s\t%d\n", c, ccounts[c])
		}
	}
	if placed != nil {
		writeTopologySummary(tw, topology, placed)
	}
	return tw.Flush()
}

func countBy(p *Plan, key func(kind, component string) string) ([]string, map[string]int) {
	counts := map[string]int{}
	for _, o := range p.Objects {
		counts[key(o.GetKind(), o.GetLabels()[ComponentLabel])]++
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys, counts
}

func writeTopologySummary(w io.Writer, s *storagev1alpha1.StorageTopologySpec, placed *placement.Result) {
	pools, replicas := 0, 0
	for _, n := range s.Nodes {
		pools += len(n.StoragePools)
	}
	for _, v := range placed.Volumes {
		replicas += len(v.Spec.Replicas)
	}
	fmt.Fprintf(w, "\nStorage topology: %d nodes, %d storage pools, %d resource groups, %d volumes with %d replicas, %d node connections\n",
		len(s.Nodes), pools, len(s.ResourceGroups), len(placed.Volumes), replicas, len(s.NodeConnections))
	for _, u := range placed.Unplaced {
		fmt.Fprintf(w, "UNPLACED: %s\n", u)
	}
	for _, n := range s.Nodes {
		if n.Leaving != nil {
			fmt.Fprintf(w, "LEAVING: node %s (%s, deletion policy %s): %s\n", n.Name, n.Leaving.Reason, n.Leaving.Policy, leavingState(n.Leaving))
		}
	}
	for _, m := range placed.Moves {
		if m.Step != "" {
			fmt.Fprintf(w, "EVACUATE: volume %s, step %s: %s\n", m.Volume, m.Step, m.StepText())
			continue
		}
		fmt.Fprintf(w, "MOVE: volume %s leaves %s for %s: %s\n", m.Volume, m.From, orNone(m.To), m.Why)
	}
}

// leavingState says where a leaving node is.
func leavingState(l *storagev1alpha1.NodeLeaving) string {
	switch {
	case l.Policy == piraeusv1.DeletionPolicyRetain:
		return "retained, lost: its replicas stay, nothing moves"
	case l.Waiting:
		return "waiting for an evacuation slot (maxConcurrentEvacuations): nothing moves yet"
	case l.Evacuated:
		return "evacuated: no replica is left, the node leaves the topology at the next plan"
	}
	return "evacuating: its replicas move step by step"
}

func orNone(s string) string {
	if s == "" {
		return "(no node)"
	}
	return s
}
