package apply

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/piraeusctl/piraeusctl/internal/golden"
	"github.com/piraeusctl/piraeusctl/internal/kindorder"
)

func TestStagesOrderKinds(t *testing.T) {
	objs := testObjects(t, "order")
	// Shuffle: reverse the input; stages must restore the order.
	for i, j := 0, len(objs)-1; i < j; i, j = i+1, j-1 {
		objs[i], objs[j] = objs[j], objs[i]
	}
	var got []string
	for _, batch := range kindorder.Stages(objs) {
		var kinds []string
		for _, o := range batch {
			kinds = append(kinds, o.GetKind())
		}
		got = append(got, strings.Join(kinds, ","))
	}
	assert.Equal(t, []string{
		"CustomResourceDefinition,Namespace",
		"ClusterRoleBinding,ClusterRole",
		"ServiceAccount",
		"ConfigMap",
		"Service",
		"CSIDriver,StorageClass",
		"PersistentVolumeClaim,DaemonSet,DaemonSet,Deployment",
		"Widget",
		"ValidatingWebhookConfiguration",
	}, got)
}

func TestApplySetID(t *testing.T) {
	// Checked against kubectl in TestApplySetIDMatchesKubectl.
	assert.Equal(t, "applyset-9pJxLRFyNcKctaS5rSfV0T1B2jOeHRjZktjlw_wZOgg-v1",
		ApplySetID("piraeusctl", "apply-dbg1", schema.GroupKind{Kind: "Secret"}))
	assert.NotEqual(t, ApplySetID("a", "b", schema.GroupKind{Kind: "Secret"}),
		ApplySetID("a", "b", schema.GroupKind{Kind: "ConfigMap"}))
}

func TestConflictsOfNamesFieldsAndManagers(t *testing.T) {
	status := apierrors.NewApplyConflict([]metav1.StatusCause{
		{Type: metav1.CauseTypeFieldManagerConflict, Message: `conflict with "kubectl-edit" using apps/v1`, Field: ".spec.replicas"},
		{Type: metav1.CauseTypeFieldManagerConflict, Message: `conflict with "helm"`, Field: ".spec.template.spec.containers[name=\"c\"].image"},
	}, "Apply failed with 2 conflicts")
	ref := ObjectRef{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "ns", Name: "c"}
	err := objectErr(ref, "apply", status)
	assert.Equal(t, `Deployment/ns/c: conflict with other field managers on .spec.replicas (owned by "kubectl-edit"), `+
		`.spec.template.spec.containers[name="c"].image (owned by "helm"): use --force-conflicts to take ownership`, err.Error())
	assert.True(t, apierrors.IsConflict(err), "the API error stays reachable")
	assert.Nil(t, ConflictsOf(errors.New("other")))

	notFound := objectErr(ref, "get", apierrors.NewNotFound(schema.GroupResource{Group: "apps", Resource: "deployments"}, "c"))
	assert.Equal(t, `Deployment/ns/c: get: deployments.apps "c" not found`, notFound.Error())
}

func TestReadinessOf(t *testing.T) {
	tests := []struct {
		name, obj string
		want      Readiness
	}{
		{"crd established", `{apiVersion: apiextensions.k8s.io/v1, kind: CustomResourceDefinition, metadata: {name: a},
			status: {conditions: [{type: NamesAccepted, status: "True"}, {type: Established, status: "True"}]}}`, Readiness{Done: true}},
		{"crd pending", `{apiVersion: apiextensions.k8s.io/v1, kind: CustomResourceDefinition, metadata: {name: a},
			status: {conditions: [{type: Established, status: "False"}]}}`, Readiness{Message: "not established"}},
		{"deployment not observed", `{apiVersion: apps/v1, kind: Deployment, metadata: {name: a, generation: 2},
			spec: {replicas: 2}, status: {observedGeneration: 1, readyReplicas: 2, updatedReplicas: 2}}`,
			Readiness{Message: "generation 2 not observed yet (at 1)"}},
		{"deployment partly ready", `{apiVersion: apps/v1, kind: Deployment, metadata: {name: a, generation: 2},
			spec: {replicas: 3}, status: {observedGeneration: 2, readyReplicas: 1, updatedReplicas: 3}}`,
			Readiness{Message: "1/3 replicas ready, 3 updated"}},
		{"deployment default replicas", `{apiVersion: apps/v1, kind: Deployment, metadata: {name: a, generation: 1},
			spec: {}, status: {observedGeneration: 1, readyReplicas: 1, updatedReplicas: 1}}`, Readiness{Done: true}},
		{"daemonset ready", `{apiVersion: apps/v1, kind: DaemonSet, metadata: {name: a, generation: 1},
			status: {observedGeneration: 1, desiredNumberScheduled: 2, numberReady: 2, updatedNumberScheduled: 2}}`, Readiness{Done: true}},
		{"daemonset rolling", `{apiVersion: apps/v1, kind: DaemonSet, metadata: {name: a, generation: 1},
			status: {observedGeneration: 1, desiredNumberScheduled: 2, numberReady: 2, updatedNumberScheduled: 1}}`,
			Readiness{Message: "2/2 pods ready, 1 updated"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, ReadinessOf(decodeOne(t, tt.obj)))
		})
	}
}

func TestDecodeManifests(t *testing.T) {
	objs, err := DecodeManifests([]byte(`---
# comment only
---
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}
- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}
---
{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "c"}}
`))
	require.NoError(t, err)
	var names []string
	for _, o := range objs {
		names = append(names, o.GetKind()+"/"+o.GetName())
	}
	assert.Equal(t, []string{"ConfigMap/a", "ConfigMap/b", "Secret/c"}, names)

	_, err = DecodeManifests([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\nkind: Secret\nmetadata: {name: b}\n"))
	assert.EqualError(t, err, "document 2: apiVersion and kind are required")
	_, err = DecodeManifests([]byte("apiVersion: v1\nkind: ConfigMap\n"))
	assert.EqualError(t, err, "document 1: ConfigMap: metadata.name is required")
}

func TestResultOutputGolden(t *testing.T) {
	r := &Result{DryRun: DryRunServer}
	for _, c := range []Change{
		{Object: ObjectRef{Version: "v1", Kind: "Namespace", Name: "piraeus-datastore"}, Action: Created},
		{Object: ObjectRef{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "piraeus-datastore", Name: "linstor-controller"}, Action: Configured},
		{Object: ObjectRef{Group: "apps", Version: "v1", Kind: "DaemonSet", Namespace: "piraeus-datastore", Name: "linstor-satellite.node-b"}, Action: Pruned},
		{Object: ObjectRef{Version: "v1", Kind: "PersistentVolumeClaim", Namespace: "default", Name: "data"}, Action: Kept,
			Message: "holds volume data: PersistentVolumes and PersistentVolumeClaims are never pruned"},
		{Object: ObjectRef{Version: "v1", Kind: "Service", Namespace: "piraeus-datastore", Name: "linstor-controller"}, Action: Unchanged},
	} {
		r.add(c)
	}
	var text bytes.Buffer
	require.NoError(t, r.WriteText(&text))
	data, err := json.MarshalIndent(r, "", "  ")
	require.NoError(t, err)
	golden.Assert(t, golden.Path("result.txt"), text.Bytes())
	golden.Assert(t, golden.Path("result.json"), append(data, '\n'))
}
