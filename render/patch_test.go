package render

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	piraeusv1 "github.com/piraeusctl/piraeusctl/api/v1"
	"github.com/piraeusctl/piraeusctl/internal/testsupport"
)

func deployment(name string, containers ...string) *unstructured.Unstructured {
	u := testsupport.Object("apps/v1", "Deployment", "ns", name)
	u.SetLabels(map[string]string{"tier": "control"})
	var cs []any
	for _, c := range containers {
		cs = append(cs, map[string]any{"name": c, "image": c + ":1", "args": []any{"--a"}})
	}
	u.Object["spec"] = map[string]any{"replicas": int64(1), "template": map[string]any{
		"metadata": map[string]any{"labels": map[string]any{"app": name}},
		"spec":     map[string]any{"containers": cs},
	}}
	return u
}

func patchObjects() []*unstructured.Unstructured {
	svc := testsupport.Object("v1", "Service", "ns", "linstor-controller")
	svc.SetAnnotations(map[string]string{"expose": "yes"})
	topo := testsupport.Object("storage.piraeus.io/v1alpha1", "StorageTopology", "", "default")
	topo.Object["spec"] = map[string]any{"properties": map[string]any{"a": "1", "b": "2"}}
	return []*unstructured.Unstructured{
		deployment("linstor-controller", "controller"),
		deployment("linstor-csi-controller", "linstor-csi", "csi-provisioner"),
		svc,
		topo,
	}
}

func TestApplyPatch(t *testing.T) {
	cases := []struct {
		name      string
		patch     piraeusv1.Patch
		check     func(t *testing.T, objs []*unstructured.Unstructured)
		wantErr   string
		unmatched bool // the target matches nothing: objects unchanged
	}{{
		name: "SMP without target patches the named object, merging containers by name",
		patch: piraeusv1.Patch{Patch: `
apiVersion: apps/v1
kind: Deployment
metadata: {name: linstor-csi-controller, namespace: ns}
spec:
  template:
    spec:
      containers:
      - name: csi-provisioner
        args: [--b]`},
		check: func(t *testing.T, objs []*unstructured.Unstructured) {
			cs, _, _ := unstructured.NestedSlice(objs[1].Object, "spec", "template", "spec", "containers")
			require.Len(t, cs, 2, "containers: %v", cs)
			p := cs[1].(map[string]any)
			assert.False(t, p["image"] != "csi-provisioner:1" || len(p["args"].([]any)) != 1 || p["args"].([]any)[0] != "--b", "provisioner: %v", p)
		},
	}, {
		name: "SMP with target ignores the patch's name and patches every match",
		patch: piraeusv1.Patch{Target: &piraeusv1.Selector{Kind: "Deployment", Name: "linstor-.*"},
			Patch: "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ignored\nspec:\n  replicas: 2\n"},
		check: func(t *testing.T, objs []*unstructured.Unstructured) {
			for _, o := range objs[:2] {
				r, _, _ := unstructured.NestedInt64(o.Object, "spec", "replicas")
				assert.False(t, r != 2 || !strings.HasPrefix(o.GetName(), "linstor-"), "%s: replicas %d", o.GetName(), r)
			}
		},
	}, {
		name:      "name regex is anchored",
		patch:     piraeusv1.Patch{Target: &piraeusv1.Selector{Kind: "Deployment", Name: "csi"}, Patch: "spec: {replicas: 2}"},
		unmatched: true,
	}, {
		name:      "SMP without target naming a missing object",
		patch:     piraeusv1.Patch{Patch: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: satellite-config}\ndata: {a: b}\n"},
		unmatched: true,
	}, {
		name: "JSON 6902 with label selector",
		patch: piraeusv1.Patch{Target: &piraeusv1.Selector{Group: "apps", Version: "v1", LabelSelector: "tier=control"},
			Patch: `[{"op": "replace", "path": "/spec/replicas", "value": 5}]`},
		check: func(t *testing.T, objs []*unstructured.Unstructured) {
			for _, o := range objs[:2] {
				r, _, _ := unstructured.NestedInt64(o.Object, "spec", "replicas")
				assert.EqualValues(t, 5, r, "%s: replicas %d", o.GetName(), r)
			}
		},
	}, {
		name: "JSON 6902 by annotation selector and namespace regex",
		patch: piraeusv1.Patch{Target: &piraeusv1.Selector{AnnotationSelector: "expose=yes", Namespace: "n."},
			Patch: "- op: add\n  path: /spec\n  value: {type: NodePort}\n"},
		check: func(t *testing.T, objs []*unstructured.Unstructured) {
			ty, _, _ := unstructured.NestedString(objs[2].Object, "spec", "type")
			assert.Equal(t, "NodePort", ty, "type %q", ty)
		},
	}, {
		name:    "JSON 6902 needs a target",
		patch:   piraeusv1.Patch{Patch: `[{"op": "remove", "path": "/spec"}]`},
		wantErr: "a JSON 6902 patch needs a target",
	}, {
		name:    "JSON 6902 failing operation names the object",
		patch:   piraeusv1.Patch{Target: &piraeusv1.Selector{Kind: "Service"}, Patch: `[{"op": "remove", "path": "/spec/nothing"}]`},
		wantErr: "v1/Service/ns/linstor-controller",
	}, {
		name:  "custom resources get a JSON merge patch",
		patch: piraeusv1.Patch{Patch: "apiVersion: storage.piraeus.io/v1alpha1\nkind: StorageTopology\nmetadata: {name: default}\nspec:\n  properties: {a: null, c: '3'}\n"},
		check: func(t *testing.T, objs []*unstructured.Unstructured) {
			props, _, _ := unstructured.NestedStringMap(objs[3].Object, "spec", "properties")
			assert.False(t, len(props) != 2 || props["b"] != "2" || props["c"] != "3", "properties %v", props)
		},
	}, {
		name:  "$patch: delete removes the object",
		patch: piraeusv1.Patch{Patch: "apiVersion: v1\nkind: Service\nmetadata: {name: linstor-controller, namespace: ns}\n$patch: delete\n"},
		check: func(t *testing.T, objs []*unstructured.Unstructured) {
			assert.Len(t, objs, 3, "%d objects left", len(objs))
		},
	}, {
		name:    "renaming needs allowNameChange",
		patch:   piraeusv1.Patch{Target: &piraeusv1.Selector{Kind: "Service"}, Patch: `[{"op": "replace", "path": "/metadata/name", "value": "x"}]`},
		wantErr: "set options.allowNameChange",
	}, {
		name: "allowNameChange permits renaming",
		patch: piraeusv1.Patch{Target: &piraeusv1.Selector{Kind: "Service"}, Options: map[string]bool{"allowNameChange": true},
			Patch: `[{"op": "replace", "path": "/metadata/name", "value": "x"}]`},
		check: func(t *testing.T, objs []*unstructured.Unstructured) {
			assert.Equal(t, "x", objs[2].GetName(), "name %q", objs[2].GetName())
		},
	}, {
		name:    "SMP without target must name its object",
		patch:   piraeusv1.Patch{Patch: "spec: {replicas: 2}"},
		wantErr: "must name its object",
	}, {
		name:    "bad label selector",
		patch:   piraeusv1.Patch{Target: &piraeusv1.Selector{LabelSelector: "a in (b"}, Patch: "spec: {}"},
		wantErr: "target.labelSelector",
	}, {
		name:    "scalar patch",
		patch:   piraeusv1.Patch{Patch: "42"},
		wantErr: "want a strategic merge patch",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			objs, unmatched, err := applyPatch(patchObjects(), tc.patch)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			if tc.unmatched {
				require.NotNil(t, unmatched, "target matched")
				require.Equal(t, patchObjects(), objs, "objects changed")
				return
			}
			require.Nil(t, unmatched)
			tc.check(t, objs)
		})
	}
}

// TestUnmatchedPatchesWarn: a patch whose target matches nothing is skipped
// with a warning naming the patch, its target and the nearest rendered
// object; a satellite configuration's patch is warned about once, and only
// when it matched on no node.
func TestUnmatchedPatchesWarn(t *testing.T) {
	m := newModel(modelOpts{nodes: 2, configs: []piraeusv1.LinstorSatelliteConfiguration{
		{ObjectMeta: metav1.ObjectMeta{Name: "a-first"}, Spec: piraeusv1.LinstorSatelliteConfigurationSpec{
			Patches: []piraeusv1.Patch{{Patch: "metadata: {annotations: {x: z}}", Target: &piraeusv1.Selector{Kind: "DaemonSet"}}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "b-second"}, Spec: piraeusv1.LinstorSatelliteConfigurationSpec{
			Patches: []piraeusv1.Patch{
				{Patch: "metadata: {annotations: {x: z}}", Target: &piraeusv1.Selector{Kind: "Pod", Name: "satellite"}},
				{Patch: "data: {linstor_satellite.toml: x}", Target: &piraeusv1.Selector{Kind: "ConfigMap", Name: "satellite-config"}},
				{Patch: "metadata: {annotations: {only: one}}", Target: &piraeusv1.Selector{Kind: "DaemonSet", Name: "linstor-satellite-node-0001"}},
			}}},
	}})
	for i := range m.Satellites {
		m.Satellites[i].Patches = append(m.SatelliteConfigurations[0].Spec.Patches, m.SatelliteConfigurations[1].Spec.Patches...)
	}
	m.Cluster.Spec.Patches = []piraeusv1.Patch{
		{Target: &piraeusv1.Selector{Kind: "Deployment"}, Patch: "metadata: {annotations: {x: z}}"},
		{Target: &piraeusv1.Selector{Kind: "Daemonset", Name: "csi-node"}, Patch: "metadata: {annotations: {x: z}}"},
		{Target: &piraeusv1.Selector{Kind: "StatefulSet", Name: "nothing-alike"}, Patch: "metadata: {annotations: {x: z}}"},
	}
	p := mustRender(t, m, testOptions())
	var got []string
	for _, w := range p.Warnings {
		got = append(got, w.Object+": "+w.Field+": "+w.Message)
	}
	skipped := " matches no object in the plan, so the patch is skipped (as upstream skips it)"
	assert.Equal(t, []string{
		"LinstorCluster/linstorcluster: spec.patches[1].target: target (kind=Daemonset, name=csi-node)" + skipped +
			"; the nearest object in the plan is DaemonSet/linstor-csi-node",
		"LinstorCluster/linstorcluster: spec.patches[2].target: target (kind=StatefulSet, name=nothing-alike)" + skipped +
			"; no object in the plan is like it",
		"LinstorSatelliteConfiguration/b-second: spec.patches[0].target: target (kind=Pod, name=satellite)" + skipped +
			"; the nearest object in the plan is DaemonSet/linstor-satellite-node-0000, whose Pods are set by spec.podTemplate",
		"LinstorSatelliteConfiguration/b-second: spec.patches[1].target: target (kind=ConfigMap, name=satellite-config)" + skipped +
			": " + agentConfigHint,
	}, got)
	for _, o := range p.Objects {
		if o.GetKind() == "DaemonSet" && o.GetName() == "linstor-satellite-node-0001" {
			assert.Equal(t, "one", o.GetAnnotations()["only"], "the patch matching one node applied there")
		}
	}
}

func TestSatellitePatchesStayOnTheirNode(t *testing.T) {
	m := newModel(modelOpts{nodes: 2})
	m.Satellites[1].Patches = []piraeusv1.Patch{{Target: &piraeusv1.Selector{Kind: "DaemonSet"},
		Patch: `[{"op": "add", "path": "/metadata/annotations/only", "value": "node-0001"}]`}}
	p := mustRender(t, m, testOptions())
	n := 0
	for _, o := range p.Objects {
		if v, ok := o.GetAnnotations()["only"]; ok {
			n++
			assert.False(t, o.GetName() != "linstor-satellite-node-0001" || v != "node-0001", "patched %s", o.GetName())
		}
	}
	assert.EqualValues(t, 1, n, "%d objects patched, want 1", n)
}

func TestPodTemplatePatch(t *testing.T) {
	m := newModel(modelOpts{nodes: 1, satTemplate: `{"spec":{"hostNetwork":false,"containers":[{"name":"linstor-satellite","env":[{"name":"EXTRA","value":"1"}]}]}}`})
	m.Cluster.Spec.HighAvailabilityController = &piraeusv1.ComponentSpec{Enabled: true,
		PodTemplate: []byte(`{"spec":{"tolerations":[{"key":"k","operator":"Exists"}]}}`)}
	p := mustRender(t, m, testOptions())
	for _, o := range p.Objects {
		switch o.GetLabels()[ComponentLabel] {
		case "linstor-satellite":
			if !isWorkload(o) {
				continue
			}
			spec, _, _ := unstructured.NestedMap(o.Object, "spec", "template", "spec")
			assert.Equal(t, false, spec["hostNetwork"], "hostNetwork %v", spec["hostNetwork"])
			c := spec["containers"].([]any)[0].(map[string]any)
			env := c["env"].([]any)
			assert.False(t, len(env) != 2 || env[0].(map[string]any)["name"] == env[1].(map[string]any)["name"], "env not merged by name: %v", env)
		case "ha-controller":
			if !isWorkload(o) {
				continue
			}
			// Tolerations have no merge key: the patch replaces the list.
			tol, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "tolerations")
			assert.Len(t, tol, 1, "tolerations %v", tol)
		}
	}
	bad := newModel(modelOpts{nodes: 1})
	bad.Cluster.Spec.CSINode = &piraeusv1.ComponentSpec{Enabled: true, PodTemplate: []byte(`[1]`)}
	_, err := Render(t.Context(), bad, testOptions())
	assert.ErrorContains(t, err, "LinstorCluster linstorcluster: spec.csiNode.podTemplate", "error")
}

// FuzzApplyPatch: any patch text either applies or fails with an error, and
// a patched object keeps its identity unless the options allow otherwise.
func FuzzApplyPatch(f *testing.F) {
	f.Add("spec: {replicas: 2}", "Deployment", "linstor-.*")
	f.Add(`[{"op": "add", "path": "/metadata/labels/x", "value": "y"}]`, "", "")
	f.Add("apiVersion: v1\nkind: Service\nmetadata: {name: linstor-controller, namespace: ns}\n$patch: delete\n", "", "")
	f.Add(`[{"op": "move", "from": "/spec", "path": "/status"}]`, "StorageTopology", "")
	f.Add("metadata:\n  name: renamed\n", "Service", "(")
	f.Fuzz(func(t *testing.T, patch, kind, name string) {
		var target *piraeusv1.Selector
		if kind != "" || name != "" {
			target = &piraeusv1.Selector{Kind: kind, Name: name}
		}
		before := patchObjects()
		objs, _, err := applyPatch(before, piraeusv1.Patch{Patch: patch, Target: target})
		if err != nil {
			return
		}
		for _, o := range objs {
			require.False(t, o.GetKind() == "" || o.GetName() == "", "patch %q left an object without kind or name: %v", patch, o.Object)
		}
	})
}
