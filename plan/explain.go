package plan

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
)

// Explanation is why every replica is where it is (plan --explain).
type Explanation struct {
	Volumes []VolumeExplanation `json:"volumes"`
}

// VolumeExplanation explains one volume's placement and allocation.
type VolumeExplanation struct {
	Volume        string                    `json:"volume"`
	Claim         string                    `json:"claim,omitempty"`
	ResourceGroup string                    `json:"resourceGroup"`
	Port          int32                     `json:"port"`
	Minor         int32                     `json:"minor"`
	Replicas      []storagev1alpha1.Replica `json:"replicas"`
}

// Explain collects the explanation from a topology built with Explain set.
func Explain(spec *storagev1alpha1.StorageTopologySpec) Explanation {
	e := Explanation{Volumes: []VolumeExplanation{}}
	for _, v := range spec.Volumes {
		ve := VolumeExplanation{Volume: v.Name, ResourceGroup: v.ResourceGroup, Port: v.Port, Minor: v.Minor, Replicas: v.Replicas}
		if v.Claim != nil {
			ve.Claim = v.Claim.Namespace + "/" + v.Claim.Name
		}
		e.Volumes = append(e.Volumes, ve)
	}
	return e
}

// WriteText prints the explanation as a table for people.
func (e Explanation) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VOLUME\tCLAIM\tPORT\tMINOR\tNODE\tNODE-ID\tPOOL\tROLE\tWHY")
	for _, v := range e.Volumes {
		for _, r := range v.Replicas {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%d\t%s\t%s\t%s\n",
				v.Volume, orDash(v.Claim), v.Port, v.Minor, r.Node, r.NodeID, orDash(r.StoragePool), replicaRole(r), orDash(r.Reason))
		}
	}
	return tw.Flush()
}

// WriteJSON prints the explanation for scripts.
func (e Explanation) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(e)
}

func replicaRole(r storagev1alpha1.Replica) string {
	switch {
	case r.TieBreaker:
		return "tie-breaker"
	case r.Diskless:
		return "diskless"
	}
	return "diskful"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
