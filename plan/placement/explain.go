package placement

import (
	"fmt"
	"io"
	"strings"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
)

// WriteExplanation renders, for `plan --explain`, every volume's allocation
// and why each replica is where it is, followed by the unplaced volumes and
// the moves of a Result.
func (r *Result) WriteExplanation(w io.Writer) error {
	var b strings.Builder
	for i := range r.Volumes {
		writeVolumeExplanation(&b, &r.Volumes[i])
	}
	if len(r.Moves) > 0 {
		b.WriteString("Moves:\n")
	}
	for _, m := range r.Moves {
		if m.Step != "" {
			fmt.Fprintf(&b, "  %s: evacuating %s, step %s: %s\n", m.Volume, m.From, m.Step, m.StepText())
			continue
		}
		fmt.Fprintf(&b, "  %s: %s -> %s: %s\n", m.Volume, m.From, m.destination(), m.Why)
	}
	if len(r.Unplaced) > 0 {
		b.WriteString("Unplaced:\n")
	}
	for _, u := range r.Unplaced {
		fmt.Fprintf(&b, "  %s\n", u)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeVolumeExplanation(b *strings.Builder, v *storagev1alpha1.StorageVolume) {
	fmt.Fprintf(b, "%s (group %s, %s):\n", v.Name, v.Spec.ResourceGroup, bytesIEC(v.Spec.SizeBytes()))
	for _, r := range v.Spec.Replicas {
		kind := "pool " + r.StoragePool
		switch {
		case r.TieBreaker:
			kind = "tie-breaker"
		case r.Diskless:
			kind = "diskless"
		}
		fmt.Fprintf(b, "  %-20s id %-2d port %-5d minor %-7s %-16s %s\n", r.Node, r.NodeID, r.Port, minorsText(r.Minors), kind, r.Reason)
	}
}

// minorsText is a replica's minors, comma-separated ("-" for none).
func minorsText(minors []int32) string {
	if len(minors) == 0 {
		return "-"
	}
	parts := make([]string, len(minors))
	for i, m := range minors {
		parts[i] = fmt.Sprint(m)
	}
	return strings.Join(parts, ",")
}
