package render

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"

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
		if podLabels[ComponentLabel] != component {
			t.Errorf("%s: Pod template component %q, workload %q", planfile.ObjectID(o), podLabels[ComponentLabel], component)
		}
		if kind, ok := wantWorkloads[component]; !ok || kind != o.GetKind() {
			t.Errorf("%s: unexpected component %q", planfile.ObjectID(o), component)
		}
		for _, l := range []string{"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/managed-by", "app.kubernetes.io/part-of", "app.kubernetes.io/version"} {
			if o.GetLabels()[l] == "" || podLabels[l] == "" {
				t.Errorf("%s: label %s missing on workload or Pod template", planfile.ObjectID(o), l)
			}
		}
		if errs := validation.IsDNS1123Label(o.GetName()); len(errs) > 0 {
			t.Errorf("%s: unsafe name: %v", planfile.ObjectID(o), errs)
		}
		seen[component]++
		if component == "linstor-satellite" {
			node := pinnedNode(t, o)
			if prev, dup := satellites[node]; dup {
				t.Errorf("node %s has two satellites: %s and %s", node, prev, o.GetName())
			}
			satellites[node] = o.GetName()
		}
	}
	for c := range wantWorkloads {
		if c == "linstor-satellite" {
			continue
		}
		if seen[c] != 1 {
			t.Errorf("component %s: %d workloads, want 1", c, seen[c])
		}
	}
	if len(satellites) != len(nodes) {
		t.Errorf("satellites for %d nodes, want %d: %v", len(satellites), len(nodes), satellites)
	}
	for _, n := range nodes {
		if _, ok := satellites[n]; !ok {
			t.Errorf("node %s has no satellite", n)
		}
	}
}

// pinnedNode returns the node a satellite DaemonSet's affinity pins it to.
func pinnedNode(t *testing.T, o *unstructured.Unstructured) string {
	t.Helper()
	terms, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "affinity", "nodeAffinity",
		"requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms")
	if len(terms) != 1 {
		t.Fatalf("%s: %d node selector terms, want 1", planfile.ObjectID(o), len(terms))
	}
	fields, _, _ := unstructured.NestedSlice(terms[0].(map[string]any), "matchFields")
	if len(fields) != 1 {
		t.Fatalf("%s: want one matchFields entry", planfile.ObjectID(o))
	}
	f := fields[0].(map[string]any)
	values, _ := f["values"].([]any)
	if f["key"] != "metadata.name" || f["operator"] != "In" || len(values) != 1 {
		t.Fatalf("%s: not pinned by metadata.name: %v", planfile.ObjectID(o), f)
	}
	return values[0].(string)
}

func TestComponentsSwitchOff(t *testing.T) {
	m := newModel(modelOpts{nodes: 1})
	p := mustRender(t, m, testOptions())
	if !hasComponent(p, "linstor-controller") {
		t.Fatal("controller missing by default")
	}
	ext := newModel(modelOpts{nodes: 1})
	ext.Cluster.Spec.ExternalController = &piraeusv1.LinstorExternalControllerRef{URL: "https://linstor.example.com:3371"}
	p = mustRender(t, ext, testOptions())
	if hasComponent(p, "linstor-controller") {
		t.Error("externalController: controller still rendered")
	}
	if !strings.Contains(planYAML(t, p), "value: https://linstor.example.com:3371") {
		t.Error("externalController: CSI does not use its URL")
	}
	disabled := newModel(modelOpts{nodes: 1})
	disabled.Cluster.Spec.CSINode = &piraeusv1.ComponentSpec{Enabled: false}
	disabled.Cluster.Spec.HighAvailabilityController = &piraeusv1.ComponentSpec{Enabled: false}
	disabled.Cluster.Spec.CSIController = &piraeusv1.DeploymentComponentSpec{}
	disabled.Cluster.Spec.Controller = &piraeusv1.ComponentSpec{Enabled: false}
	p = mustRender(t, disabled, testOptions())
	for _, c := range []string{"linstor-csi-node", "ha-controller", "linstor-csi-controller", "linstor-controller"} {
		if hasComponent(p, c) {
			t.Errorf("%s rendered although enabled: false", c)
		}
	}
	for _, c := range []string{"piraeus-operator", "piraeus-operator-gencert", "linstor-satellite"} {
		if !hasComponent(p, c) {
			t.Errorf("%s missing", c)
		}
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
	if err := planfile.WriteYAML(&b, p.Objects); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
