package plan

import (
	"fmt"

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

// ValidateVolumeAllocations checks the allocations of volumes drawn from a:
// each volume named once; each port and minor inside a's ranges and held by
// one volume only (0 is "not allocated yet"); each replica on its own node,
// and, for volumes usesDRBD says replicate with DRBD, each replica's node id
// within 0-31 and unique in the volume. p is the path of the volume list.
func ValidateVolumeAllocations(a storagev1alpha1.AllocationSettings, vols []storagev1alpha1.Volume, usesDRBD func(*storagev1alpha1.Volume) bool, p *field.Path) field.ErrorList {
	portMin, portMax, minorMin, minorMax := effectiveRanges(a)
	var errs field.ErrorList
	names := map[string]int{}
	ports, minors := map[int32]string{}, map[int32]string{}
	for i := range vols {
		v, vp := &vols[i], p.Index(i)
		if first, dup := names[v.Name]; dup {
			errs = append(errs, field.Duplicate(vp.Child("name"), fmt.Sprintf("%s (also volumes[%d])", v.Name, first)))
		}
		names[v.Name] = i
		errs = append(errs, checkNumber(v.Port, portMin, portMax, ports, v.Name, vp.Child("port"), "DRBD port")...)
		errs = append(errs, checkNumber(v.Minor, minorMin, minorMax, minors, v.Name, vp.Child("minor"), "DRBD minor")...)
		errs = append(errs, validateReplicas(v, usesDRBD == nil || usesDRBD(v), vp.Child("replicas"))...)
	}
	return errs
}

// checkNumber checks one allocated port or minor: in range, not taken.
func checkNumber(n, lo, hi int32, used map[int32]string, volume string, p *field.Path, what string) field.ErrorList {
	switch other, taken := used[n]; {
	case n == 0:
		return nil
	case n < lo || n > hi:
		return field.ErrorList{field.Invalid(p, n, fmt.Sprintf("expected a %s from %d to %d (spec.allocation); the volume's data is reached through it, so it is never changed silently: fix the range or the number", what, lo, hi))}
	case taken:
		return field.ErrorList{field.Duplicate(p, fmt.Sprintf("%d (%s of volume %s too)", n, what, other))}
	}
	used[n] = volume
	return nil
}

// validateReplicas checks one volume's replicas: one per node, and with DRBD
// a node id from 0 to 31 that no other replica of the volume has.
func validateReplicas(v *storagev1alpha1.Volume, drbd bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	nodes := map[string]bool{}
	ids := map[int32]string{}
	for j, r := range v.Replicas {
		rp := p.Index(j)
		if nodes[r.Node] {
			errs = append(errs, field.Duplicate(rp.Child("node"), r.Node))
		}
		nodes[r.Node] = true
		if !drbd {
			continue
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

// ValidatePreviousTopology checks a previous plan's StorageTopology spec
// before its allocations are kept: the allocation ranges and every volume's
// allocations. Paths are rooted at spec.
func ValidatePreviousTopology(spec *storagev1alpha1.StorageTopologySpec) field.ErrorList {
	p := field.NewPath("spec")
	errs := ValidateAllocation(spec.Allocation, p.Child("allocation"))
	groups := map[string]*storagev1alpha1.ResourceGroup{}
	for i := range spec.ResourceGroups {
		groups[spec.ResourceGroups[i].Name] = &spec.ResourceGroups[i]
	}
	usesDRBD := func(v *storagev1alpha1.Volume) bool {
		rg := groups[v.ResourceGroup]
		return rg == nil || placement.HasDRBD(rg)
	}
	return append(errs, ValidateVolumeAllocations(spec.Allocation, spec.Volumes, usesDRBD, p.Child("volumes"))...)
}
