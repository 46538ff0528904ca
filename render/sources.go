package render

import (
	"fmt"

	piraeusv1 "github.com/piraeusctl/piraeusctl/api/v1"
	"github.com/piraeusctl/piraeusctl/plan"
)

// satelliteTemplates names each of a satellite's Pod template patches after
// the LinstorSatelliteConfiguration that gave it. The model keeps them in
// merge order; when the configurations no longer line up with them, the
// patches are named by node and position instead.
func satelliteTemplates(m *plan.Model, s *plan.Satellite) []sourcedTemplate {
	var names []string
	for _, cfg := range satelliteConfigs(m, s) {
		if len(cfg.Spec.PodTemplate) > 0 {
			names = append(names, fmt.Sprintf("LinstorSatelliteConfiguration %s: spec.podTemplate (node %s)", cfg.Name, s.Node))
		}
	}
	out := make([]sourcedTemplate, len(s.PodTemplates))
	for i, t := range s.PodTemplates {
		src := fmt.Sprintf("satellite %s: podTemplates[%d]", s.Node, i)
		if len(names) == len(s.PodTemplates) {
			src = names[i]
		}
		out[i] = sourcedTemplate{source: src, patch: t}
	}
	return out
}

// satellitePatches names each of a satellite's patches after the
// configuration and index it came from (see satelliteTemplates).
func satellitePatches(m *plan.Model, s *plan.Satellite) []sourcedPatch {
	var names []sourcedPatch
	for _, cfg := range satelliteConfigs(m, s) {
		for j := range cfg.Spec.Patches {
			names = append(names, sourcedPatch{object: "LinstorSatelliteConfiguration/" + cfg.Name, field: fmt.Sprintf("spec.patches[%d]", j)})
		}
	}
	out := make([]sourcedPatch, len(s.Patches))
	for i, p := range s.Patches {
		out[i] = sourcedPatch{field: fmt.Sprintf("satellite %s: patches[%d]", s.Node, i)}
		if len(names) == len(s.Patches) {
			out[i] = names[i]
		}
		out[i].node, out[i].patch = s.Node, p
	}
	return out
}

func satelliteConfigs(m *plan.Model, s *plan.Satellite) []*piraeusv1.LinstorSatelliteConfiguration {
	byName := make(map[string]*piraeusv1.LinstorSatelliteConfiguration, len(m.SatelliteConfigurations))
	for i := range m.SatelliteConfigurations {
		byName[m.SatelliteConfigurations[i].Name] = &m.SatelliteConfigurations[i]
	}
	out := make([]*piraeusv1.LinstorSatelliteConfiguration, 0, len(s.Configurations))
	for _, name := range s.Configurations {
		if cfg, ok := byName[name]; ok {
			out = append(out, cfg)
		}
	}
	return out
}

// clusterPatches names the LinstorCluster's patches.
func clusterPatches(m *plan.Model) []sourcedPatch {
	owner := "LinstorCluster/" + clusterName(m)
	out := make([]sourcedPatch, len(m.Cluster.Spec.Patches))
	for i, p := range m.Cluster.Spec.Patches {
		out[i] = sourcedPatch{object: owner, field: fmt.Sprintf("spec.patches[%d]", i), patch: p}
	}
	return out
}

// applyPatches applies the LinstorCluster's patches to the cluster-level
// objects and each satellite's patches to its node's objects. It returns a
// warning for each patch whose target matched nothing (for a satellite
// configuration's patch: on no node it applies to).
func applyPatches(m *plan.Model, g *objectGroups) (plan.ErrorList, error) {
	var err error
	var unmatched []unmatchedPatch
	if g.cluster, unmatched, err = applyPatchList(g.cluster, clusterPatches(m)); err != nil {
		return nil, err
	}
	warnings := patchWarnings(m, unmatched)
	// A satellite configuration's patch is one patch however many nodes it
	// reaches: it is warned about once, when it matched on none of them,
	// with the nearest object of the first node.
	matched := map[string]bool{}
	var first []unmatchedPatch
	seen := map[string]bool{}
	for i := range m.Satellites {
		s := &m.Satellites[i]
		if len(s.Patches) == 0 {
			continue
		}
		patches := satellitePatches(m, s)
		if g.nodes[s.Node], unmatched, err = applyPatchList(g.nodes[s.Node], patches); err != nil {
			return nil, err
		}
		missed := map[string]bool{}
		for _, u := range unmatched {
			key := u.object + " " + u.field
			missed[key] = true
			if !seen[key] {
				seen[key] = true
				first = append(first, u)
			}
		}
		for _, p := range patches {
			if key := p.object + " " + p.field; !missed[key] {
				matched[key] = true
			}
		}
	}
	for _, u := range first {
		if !matched[u.object+" "+u.field] {
			warnings = append(warnings, patchWarnings(m, []unmatchedPatch{u})...)
		}
	}
	return warnings, nil
}
