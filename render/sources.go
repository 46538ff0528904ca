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
	var names []string
	for _, cfg := range satelliteConfigs(m, s) {
		for j := range cfg.Spec.Patches {
			names = append(names, fmt.Sprintf("LinstorSatelliteConfiguration %s: spec.patches[%d] (node %s)", cfg.Name, j, s.Node))
		}
	}
	out := make([]sourcedPatch, len(s.Patches))
	for i, p := range s.Patches {
		src := fmt.Sprintf("satellite %s: patches[%d]", s.Node, i)
		if len(names) == len(s.Patches) {
			src = names[i]
		}
		out[i] = sourcedPatch{source: src, patch: p}
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
	owner := clusterOwner(m)
	out := make([]sourcedPatch, len(m.Cluster.Spec.Patches))
	for i, p := range m.Cluster.Spec.Patches {
		out[i] = sourcedPatch{source: fmt.Sprintf("%s: spec.patches[%d]", owner, i), patch: p}
	}
	return out
}

// applyPatches applies the LinstorCluster's patches to the cluster-level
// objects and each satellite's patches to its node's objects.
func applyPatches(m *plan.Model, g *objectGroups) error {
	var err error
	if g.cluster, err = applyPatchList(g.cluster, clusterPatches(m)); err != nil {
		return err
	}
	for i := range m.Satellites {
		s := &m.Satellites[i]
		if len(s.Patches) == 0 {
			continue
		}
		if g.nodes[s.Node], err = applyPatchList(g.nodes[s.Node], satellitePatches(m, s)); err != nil {
			return err
		}
	}
	return nil
}
