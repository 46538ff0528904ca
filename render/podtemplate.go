package render

import (
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"sigs.k8s.io/yaml"

	"github.com/piraeusctl/piraeusctl/plan"
	"github.com/piraeusctl/piraeusctl/planfile"
)

// ComponentLabel is the label naming an object's component.
const ComponentLabel = "app.kubernetes.io/component"

// sourcedTemplate is a Pod template patch and where it came from.
type sourcedTemplate struct {
	source string
	patch  json.RawMessage
}

// applyPodTemplates merges spec.<component>.podTemplate of the LinstorCluster
// into its components' Pod templates, and each node's satellite Pod
// templates into that node's satellite workloads (strategic merge).
func applyPodTemplates(m *plan.Model, g *objectGroups) error {
	spec := &m.Cluster.Spec
	owner := clusterOwner(m)
	byComponent := map[string]sourcedTemplate{
		"linstor-controller":     {owner + ": spec.controller.podTemplate", spec.Controller.Template()},
		"linstor-csi-controller": {owner + ": spec.csiController.podTemplate", spec.CSIController.Template()},
		"linstor-csi-node":       {owner + ": spec.csiNode.podTemplate", spec.CSINode.Template()},
		"ha-controller":          {owner + ": spec.highAvailabilityController.podTemplate", spec.HighAvailabilityController.Template()},
	}
	for _, o := range g.cluster {
		t, ok := byComponent[o.GetLabels()[ComponentLabel]]
		if !ok || len(t.patch) == 0 || !isWorkload(o) {
			continue
		}
		if err := mergePodTemplate(o, t); err != nil {
			return err
		}
	}
	for i := range m.Satellites {
		s := &m.Satellites[i]
		templates := satelliteTemplates(m, s)
		for _, o := range g.nodes[s.Node] {
			if !isWorkload(o) {
				continue
			}
			for _, t := range templates {
				if err := mergePodTemplate(o, t); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func isWorkload(o *unstructured.Unstructured) bool {
	switch o.GetKind() {
	case "Deployment", "DaemonSet", "StatefulSet":
		return o.GetAPIVersion() == "apps/v1"
	}
	return false
}

// mergePodTemplate applies a strategic merge patch to spec.template.
func mergePodTemplate(o *unstructured.Unstructured, t sourcedTemplate) error {
	data, err := yaml.YAMLToJSON(t.patch)
	if err != nil {
		return fmt.Errorf("%s: %w", t.source, err)
	}
	var patch map[string]any
	if err := json.Unmarshal(data, &patch); err != nil {
		return fmt.Errorf("%s: want an object: %w", t.source, err)
	}
	tmpl, ok, err := unstructured.NestedMap(o.Object, "spec", "template")
	if err != nil || !ok {
		return fmt.Errorf("%s: %s has no spec.template", t.source, planfile.ObjectID(o))
	}
	merged, err := strategicpatch.StrategicMergeMapPatch(tmpl, patch, &corev1.PodTemplateSpec{})
	if err != nil {
		return fmt.Errorf("%s: %s: %w", t.source, planfile.ObjectID(o), err)
	}
	spec, _ := o.Object["spec"].(map[string]any)
	spec["template"] = normalizeJSON(map[string]any(merged))
	return nil
}

func clusterOwner(m *plan.Model) string { return "LinstorCluster " + clusterName(m) }

func clusterName(m *plan.Model) string {
	if m.Cluster.Name == "" {
		return plan.DefaultClusterName
	}
	return m.Cluster.Name
}
