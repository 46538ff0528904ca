package render

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	piraeusv1 "github.com/piraeusctl/piraeusctl/api/v1"
	"github.com/piraeusctl/piraeusctl/planfile"
)

// wantWorkloads is every workload the plan must hold, by component label.
var wantWorkloads = map[string]string{
	"piraeus-operator":         "Deployment",
	"piraeus-operator-gencert": "Deployment",
	"linstor-controller":       "Deployment",
	"linstor-csi-controller":   "Deployment",
	"linstor-csi-node":         "DaemonSet",
	"ha-controller":            "DaemonSet",
	"linstor-satellite":        "DaemonSet",
}

func TestWorkloadLabels(t *testing.T) {
	nodes := []string{"n1", "Worker_2.Example.COM", strings.Repeat("very-long-node-name-", 10) + "end"}
	p := mustRender(t, newModel(modelOpts{nodeNames: nodes}), testOptions())
	seen := map[string]int{}
	satellites := map[string]string{}
	for _, o := range p.Objects {
		if !isWorkload(o) {
			continue
		}
		component := o.GetLabels()[ComponentLabel]
		podLabels, _, _ := unstructured.NestedStringMap(o.Object, "spec", "template", "metadata", "labels")
		assert.Equal(t, component, podLabels[ComponentLabel], "%s: Pod template component %q, workload %q", planfile.ObjectID(o), podLabels[ComponentLabel], component)
		kind, ok := wantWorkloads[component]
		assert.False(t, !ok || kind != o.GetKind(), "%s: unexpected component %q", planfile.ObjectID(o), component)
		for _, l := range []string{"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/managed-by", "app.kubernetes.io/part-of", "app.kubernetes.io/version"} {
			assert.False(t, o.GetLabels()[l] == "" || podLabels[l] == "", "%s: label %s missing on workload or Pod template", planfile.ObjectID(o), l)
		}
		errs := validation.IsDNS1123Label(o.GetName())
		assert.False(t, len(errs) > 0, "%s: unsafe name: %v", planfile.ObjectID(o), errs)
		seen[component]++
		if component == "linstor-satellite" {
			node := pinnedNode(t, o)
			prev, dup := satellites[node]
			assert.False(t, dup, "node %s has two satellites: %s and %s", node, prev, o.GetName())
			satellites[node] = o.GetName()
		}
	}
	for c := range wantWorkloads {
		if c == "linstor-satellite" {
			continue
		}
		assert.EqualValues(t, 1, seen[c], "component %s: %d workloads, want 1", c, seen[c])
	}
	assert.Len(t, satellites, len(nodes), "satellites for %d nodes, want %d: %v", len(satellites), len(nodes), satellites)
	for _, n := range nodes {
		_, ok := satellites[n]
		assert.True(t, ok, "node %s has no satellite", n)
	}
}

// pinnedNode returns the node a satellite DaemonSet's affinity pins it to.
func pinnedNode(t *testing.T, o *unstructured.Unstructured) string {
	t.Helper()
	terms, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "affinity", "nodeAffinity",
		"requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms")
	require.Len(t, terms, 1, "%s: %d node selector terms, want 1", planfile.ObjectID(o), len(terms))
	fields, _, _ := unstructured.NestedSlice(terms[0].(map[string]any), "matchFields")
	require.Len(t, fields, 1, "%s: want one matchFields entry", planfile.ObjectID(o))
	f := fields[0].(map[string]any)
	values, _ := f["values"].([]any)
	require.False(t, f["key"] != "metadata.name" || f["operator"] != "In" || len(values) != 1, "%s: not pinned by metadata.name: %v", planfile.ObjectID(o), f)
	return values[0].(string)
}

func TestComponentsSwitchOff(t *testing.T) {
	m := newModel(modelOpts{nodes: 1})
	p := mustRender(t, m, testOptions())
	require.True(t, hasComponent(p, "linstor-controller"), "controller missing by default")
	ext := newModel(modelOpts{nodes: 1})
	ext.Cluster.Spec.ExternalController = &piraeusv1.LinstorExternalControllerRef{URL: "https://linstor.example.com:3371"}
	p = mustRender(t, ext, testOptions())
	assert.False(t, hasComponent(p, "linstor-controller"), "externalController: controller still rendered")
	assert.Contains(t, planYAML(t, p), "value: https://linstor.example.com:3371", "externalController: CSI does not use its URL")
	disabled := newModel(modelOpts{nodes: 1})
	disabled.Cluster.Spec.CSINode = &piraeusv1.ComponentSpec{Enabled: false}
	disabled.Cluster.Spec.HighAvailabilityController = &piraeusv1.ComponentSpec{Enabled: false}
	disabled.Cluster.Spec.CSIController = &piraeusv1.DeploymentComponentSpec{}
	disabled.Cluster.Spec.Controller = &piraeusv1.ComponentSpec{Enabled: false}
	p = mustRender(t, disabled, testOptions())
	for _, c := range []string{"linstor-csi-node", "ha-controller", "linstor-csi-controller", "linstor-controller"} {
		assert.False(t, hasComponent(p, c), "%s rendered although enabled: false", c)
	}
	for _, c := range []string{"piraeus-operator", "piraeus-operator-gencert", "linstor-satellite"} {
		assert.True(t, hasComponent(p, c), "%s missing", c)
	}
}

func hasComponent(p *Plan, component string) bool {
	for _, o := range p.Objects {
		if isWorkload(o) && o.GetLabels()[ComponentLabel] == component {
			return true
		}
	}
	return false
}

func planYAML(t *testing.T, p *Plan) string {
	t.Helper()
	var b strings.Builder
	require.NoError(t, planfile.WriteYAML(&b, p.Objects))
	return b.String()
}
