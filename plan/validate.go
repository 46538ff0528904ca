package plan

import (
	"fmt"
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	piraeusv1 "github.com/piraeusctl/piraeusctl/api/v1"
)

// The semantic rules upstream's webhooks apply beyond the CRD schemas.

func validateCluster(c *piraeusv1.LinstorCluster) field.ErrorList {
	spec := field.NewPath("spec")
	errs := validateAffinity(c.Spec.NodeAffinity, spec.Child("nodeAffinity"))
	errs = append(errs, validateControllerProperties(c.Spec.Properties, spec.Child("properties"))...)
	errs = append(errs, validatePatches(c.Spec.Patches, spec.Child("patches"))...)
	return errs
}

func validateSatelliteConfiguration(c *piraeusv1.LinstorSatelliteConfiguration) field.ErrorList {
	spec := field.NewPath("spec")
	errs := validateAffinity(c.Spec.NodeAffinity, spec.Child("nodeAffinity"))
	errs = append(errs, validateNodeProperties(c.Spec.Properties, spec.Child("properties"))...)
	errs = append(errs, validateStoragePools(c.Spec.StoragePools, spec.Child("storagePools"))...)
	errs = append(errs, validatePatches(c.Spec.Patches, spec.Child("patches"))...)
	return errs
}

func validateNodeConnection(c *piraeusv1.LinstorNodeConnection) field.ErrorList {
	spec := field.NewPath("spec")
	errs := validateControllerProperties(c.Spec.Properties, spec.Child("properties"))
	for i, term := range c.Spec.Selector {
		for j, m := range term.MatchLabels {
			p := spec.Child("selector").Index(i).Child("matchLabels").Index(j)
			errs = append(errs, validateMatchLabel(m, p)...)
		}
	}
	return errs
}

func validateMatchLabel(m piraeusv1.MatchLabelSelector, p *field.Path) field.ErrorList {
	switch m.Op {
	case piraeusv1.MatchLabelSelectorOpIn, piraeusv1.MatchLabelSelectorOpNotIn:
		if len(m.Values) == 0 {
			return field.ErrorList{field.Required(p.Child("values"), fmt.Sprintf("op %s needs at least one value", m.Op))}
		}
	default:
		if len(m.Values) > 0 {
			return field.ErrorList{field.Invalid(p.Child("values"), m.Values, fmt.Sprintf("op %s takes no values", opOrDefault(m.Op)))}
		}
	}
	return nil
}

func opOrDefault(op piraeusv1.MatchLabelSelectorOperator) piraeusv1.MatchLabelSelectorOperator {
	if op == "" {
		return piraeusv1.MatchLabelSelectorOpExists
	}
	return op
}

// validateAffinity compiles the node selector terms the way the scheduler does.
func validateAffinity(a *corev1.NodeSelector, p *field.Path) field.ErrorList {
	if a == nil {
		return nil
	}
	if len(a.NodeSelectorTerms) == 0 {
		return field.ErrorList{field.Required(p.Child("nodeSelectorTerms"), "expected at least one term")}
	}
	if _, err := nodeaffinity.NewNodeSelector(a, field.WithPath(p)); err != nil {
		if agg, ok := err.(interface{ Errors() []error }); ok {
			var out field.ErrorList
			for _, e := range agg.Errors() {
				if fe, ok := e.(*field.Error); ok {
					out = append(out, fe)
				}
			}
			if len(out) > 0 {
				return out
			}
		}
		return field.ErrorList{field.Invalid(p, "", err.Error())}
	}
	return nil
}

func validateControllerProperties(props []piraeusv1.LinstorControllerProperty, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := sets.New[string]()
	for i, prop := range props {
		if seen.Has(prop.Name) {
			errs = append(errs, field.Duplicate(p.Index(i).Child("name"), prop.Name))
		}
		seen.Insert(prop.Name)
	}
	return errs
}

func validateNodeProperties(props []piraeusv1.LinstorNodeProperty, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := sets.New[string]()
	for i, prop := range props {
		pp := p.Index(i)
		if seen.Has(prop.Name) {
			errs = append(errs, field.Duplicate(pp.Child("name"), prop.Name))
		}
		seen.Insert(prop.Name)
		errs = append(errs, validateNodeProperty(prop, pp)...)
	}
	return errs
}

func validateNodeProperty(prop piraeusv1.LinstorNodeProperty, p *field.Path) field.ErrorList {
	set := 0
	for _, s := range []bool{prop.Value != "", prop.ValueFrom != nil, prop.ExpandFrom != nil} {
		if s {
			set++
		}
	}
	if set > 1 {
		return field.ErrorList{field.Invalid(p, prop.Name, "expected exactly one of value, valueFrom and expandFrom")}
	}
	switch {
	case prop.ValueFrom != nil:
		if _, err := parseNodeFieldRef(prop.ValueFrom.NodeFieldRef, false); err != nil {
			return field.ErrorList{field.Invalid(p.Child("valueFrom", "nodeFieldRef"), prop.ValueFrom.NodeFieldRef, err.Error())}
		}
	case prop.ExpandFrom != nil:
		return validateExpandFrom(prop, p.Child("expandFrom"))
	}
	return nil
}

func validateExpandFrom(prop piraeusv1.LinstorNodeProperty, p *field.Path) field.ErrorList {
	ref, err := parseNodeFieldRef(prop.ExpandFrom.NodeFieldRef, true)
	if err != nil {
		return field.ErrorList{field.Invalid(p.Child("nodeFieldRef"), prop.ExpandFrom.NodeFieldRef, err.Error())}
	}
	if ref.field != "labels" && ref.field != "annotations" {
		return field.ErrorList{field.Invalid(p.Child("nodeFieldRef"), prop.ExpandFrom.NodeFieldRef, "expandFrom needs metadata.labels['...'] or metadata.annotations['...']")}
	}
	return nil
}

func validateStoragePools(pools []piraeusv1.LinstorStoragePool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := sets.New[string]()
	devices := sets.New[string]()
	for i := range pools {
		pool := &pools[i]
		pp := p.Index(i)
		if names.Has(pool.Name) {
			errs = append(errs, field.Duplicate(pp.Child("name"), pool.Name))
		}
		names.Insert(pool.Name)
		if n := pool.ProviderCount(); n != 1 {
			errs = append(errs, field.Invalid(pp, pool.Name, fmt.Sprintf("expected exactly one of lvmPool, lvmThinPool, filePool, fileThinPool, zfsPool, zfsThinPool; found %d", n)))
		}
		errs = append(errs, validateNodeProperties(pool.Properties, pp.Child("properties"))...)
		errs = append(errs, validatePoolSource(pool, devices, pp.Child("source"))...)
		errs = append(errs, validatePoolDirectory(pool, pp)...)
	}
	return errs
}

func validatePoolSource(pool *piraeusv1.LinstorStoragePool, devices sets.Set[string], p *field.Path) field.ErrorList {
	if pool.Source == nil {
		return nil
	}
	var errs field.ErrorList
	if len(pool.Source.HostDevices) == 0 {
		errs = append(errs, field.Required(p.Child("hostDevices"), "expected at least one device"))
	}
	if k := pool.ProviderKind(); k == piraeusv1.ProviderFile || k == piraeusv1.ProviderFileThin {
		errs = append(errs, field.Forbidden(p, "file pools are not created from host devices"))
	}
	for j, dev := range pool.Source.HostDevices {
		dp := p.Child("hostDevices").Index(j)
		switch {
		case !strings.HasPrefix(dev, "/dev/"):
			errs = append(errs, field.Invalid(dp, dev, "expected a device path under /dev/"))
		case path.Clean(dev) != dev:
			errs = append(errs, field.Invalid(dp, dev, fmt.Sprintf("expected a clean path (%s)", path.Clean(dev))))
		case devices.Has(dev):
			errs = append(errs, field.Duplicate(dp, dev))
		}
		devices.Insert(dev)
	}
	return errs
}

func validatePoolDirectory(pool *piraeusv1.LinstorStoragePool, p *field.Path) field.ErrorList {
	f, name := pool.FilePool, "filePool"
	if f == nil {
		f, name = pool.FileThinPool, "fileThinPool"
	}
	if f == nil || f.Directory == "" {
		return nil
	}
	if !path.IsAbs(f.Directory) || path.Clean(f.Directory) != f.Directory {
		return field.ErrorList{field.Invalid(p.Child(name, "directory"), f.Directory, "expected a clean absolute path")}
	}
	return nil
}

// validatePatches checks that each patch parses as a strategic merge patch
// (a YAML object) or a JSON 6902 patch (a list of operations), and that a
// JSON patch has a target.
func validatePatches(patches []piraeusv1.Patch, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, patch := range patches {
		kind, err := patchKind(patch.Patch)
		pp := p.Index(i)
		switch {
		case err != nil:
			errs = append(errs, field.Invalid(pp.Child("patch"), field.OmitValueType{}, err.Error()))
		case kind == PatchJSON6902 && patch.Target == nil:
			errs = append(errs, field.Required(pp.Child("target"), "a JSON 6902 patch needs a target"))
		}
		for opt := range patch.Options {
			if opt != "allowNameChange" && opt != "allowKindChange" {
				errs = append(errs, field.NotSupported(pp.Child("options").Key(opt), opt, []string{"allowNameChange", "allowKindChange"}))
			}
		}
	}
	return errs
}
