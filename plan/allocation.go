package plan

import (
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/util/validation/field"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	"github.com/piraeusctl/piraeusctl/plan/placement"
)

// DRBD's hard limits on what an allocation may hold.
const (
	// MaxPort is the largest TCP port.
	MaxPort = 65535
	// MaxMinor is the largest DRBD minor number (2^20 - 1).
	MaxMinor = 1048575
)

// An allocation (a volume's DRBD port and minor, its replicas' node ids) is
// live state on disks: DRBD's metadata and peers know a replica by its node
// id. A previous topology's allocations are therefore checked as strictly
// as any input, and never rewritten: a bad one stops the plan with the
// field that holds it.

// ValidateAllocation checks the ranges volumes draw ports and minors from;
// all zero means the defaults.
func ValidateAllocation(a storagev1alpha1.AllocationSettings, p *field.Path) field.ErrorList {
	if a == (storagev1alpha1.AllocationSettings{}) {
		return nil
	}
	var errs field.ErrorList
	errs = append(errs, validateRange(a.PortMin, a.PortMax, 1, MaxPort, p.Child("portMin"), p.Child("portMax"), "DRBD port")...)
	errs = append(errs, validateRange(a.MinorMin, a.MinorMax, 0, MaxMinor, p.Child("minorMin"), p.Child("minorMax"), "DRBD minor")...)
	return errs
}

func validateRange(lo, hi, limitLo, limitHi int32, loPath, hiPath *field.Path, what string) field.ErrorList {
	var errs field.ErrorList
	if lo < limitLo || lo > limitHi {
		errs = append(errs, field.Invalid(loPath, lo, fmt.Sprintf("expected the first %s, from %d to %d", what, limitLo, limitHi)))
	}
	if hi < limitLo || hi > limitHi {
		errs = append(errs, field.Invalid(hiPath, hi, fmt.Sprintf("expected the last %s, from %d to %d", what, limitLo, limitHi)))
	}
	if len(errs) == 0 && lo > hi {
		errs = append(errs, field.Invalid(hiPath, hi, fmt.Sprintf("expected at least the first %s, %d", what, lo)))
	}
	return errs
}

// effectiveRanges are the port and minor ranges of a, defaults filled in.
func effectiveRanges(a storagev1alpha1.AllocationSettings) (portMin, portMax, minorMin, minorMax int32) {
	if a.PortMin == 0 && a.PortMax == 0 {
		a.PortMin, a.PortMax = DefaultPortMin, DefaultPortMax
	}
	if a.MinorMin == 0 && a.MinorMax == 0 {
		a.MinorMin, a.MinorMax = DefaultMinorMin, DefaultMinorMax
	}
	return a.PortMin, a.PortMax, a.MinorMin, a.MinorMax
}

// ValidateVolume checks one previous volume's allocations, with paths
// rooted at spec: each replica on its own node; with DRBD (drbd) each
// replica's node id within 0-31 and unique in the volume, its port and
// minors inside a's ranges (0 / none is "not allocated yet"), one minor per
// volume definition.
func ValidateVolume(a storagev1alpha1.AllocationSettings, v *storagev1alpha1.StorageVolume, drbd bool) field.ErrorList {
	p := field.NewPath("spec", "replicas")
	portMin, portMax, minorMin, minorMax := effectiveRanges(a)
	var errs field.ErrorList
	nodes := map[string]bool{}
	ids := map[int32]string{}
	for j, r := range v.Spec.Replicas {
		rp := p.Index(j)
		if nodes[r.Node] {
			errs = append(errs, field.Duplicate(rp.Child("node"), r.Node))
		}
		nodes[r.Node] = true
		if !drbd {
			continue
		}
		errs = append(errs, checkNumber(r.Port, portMin, portMax, rp.Child("port"), "DRBD port")...)
		if len(r.Minors) > 0 && len(r.Minors) != len(v.Spec.Volumes) {
			errs = append(errs, field.Invalid(rp.Child("minors"), r.Minors, fmt.Sprintf("expected one DRBD minor per volume definition (%d)", len(v.Spec.Volumes))))
		}
		for k, m := range r.Minors {
			errs = append(errs, checkNumber(m, minorMin, minorMax, rp.Child("minors").Index(k), "DRBD minor")...)
		}
		if r.NodeID < 0 || r.NodeID >= placement.MaxNodeIDs {
			errs = append(errs, field.Invalid(rp.Child("nodeId"), r.NodeID, fmt.Sprintf("expected a DRBD node id from 0 to %d; DRBD's metadata knows the replica by it, so it is never changed silently", placement.MaxNodeIDs-1)))
			continue
		}
		if other, dup := ids[r.NodeID]; dup {
			errs = append(errs, field.Duplicate(rp.Child("nodeId"), fmt.Sprintf("%d (node id of the replica on %s too); DRBD needs one id per replica, and which one to change is not for the plan to guess", r.NodeID, other)))
			continue
		}
		ids[r.NodeID] = r.Node
	}
	return errs
}

// checkNumber checks one allocated port or minor is in its range.
func checkNumber(n, lo, hi int32, p *field.Path, what string) field.ErrorList {
	if n == 0 || (n >= lo && n <= hi) {
		return nil
	}
	return field.ErrorList{field.Invalid(p, n, fmt.Sprintf("expected a %s from %d to %d (the StorageTopology's spec.allocation); the volume's data is reached through it, so it is never changed silently: fix the range or the number", what, lo, hi))}
}

// ValidatePreviousTopology checks a previous plan's StorageTopology spec
// before its settings are kept: the allocation ranges. Paths are rooted at spec.
func ValidatePreviousTopology(spec *storagev1alpha1.StorageTopologySpec) field.ErrorList {
	return ValidateAllocation(spec.Allocation, field.NewPath("spec").Child("allocation"))
}

// validatePreviousVolume checks a previous volume against the previous
// topology's ranges and groups (the defaults when there is none).
func validatePreviousVolume(prev *storagev1alpha1.StorageTopologySpec, v *storagev1alpha1.StorageVolume) field.ErrorList {
	var a storagev1alpha1.AllocationSettings
	groups := map[string]*storagev1alpha1.ResourceGroup{}
	if prev != nil {
		a = prev.Allocation
		for i := range prev.ResourceGroups {
			groups[prev.ResourceGroups[i].Name] = &prev.ResourceGroups[i]
		}
	}
	return ValidateVolume(a, v, usesDRBD(v, groups))
}

// usesDRBD reports whether a volume replicates with DRBD: its own layer
// list, else its group's (an unknown group counts as DRBD, the default).
func usesDRBD(v *storagev1alpha1.StorageVolume, groups map[string]*storagev1alpha1.ResourceGroup) bool {
	if len(v.Spec.LayerList) > 0 {
		return slices.Contains(v.Spec.LayerList, "drbd")
	}
	rg := groups[v.Spec.ResourceGroup]
	return rg == nil || placement.HasDRBD(rg)
}
