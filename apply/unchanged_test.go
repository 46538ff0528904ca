package apply

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// liveWith builds a live object whose managedFields give manager the field
// set fieldsJSON, applied with apiVersion.
func liveWith(t *testing.T, objYAML, manager, apiVersion, fieldsJSON string) *unstructured.Unstructured {
	t.Helper()
	u := decodeOne(t, objYAML)
	u.SetManagedFields([]metav1.ManagedFieldsEntry{{
		Manager: manager, Operation: metav1.ManagedFieldsOperationApply, APIVersion: apiVersion,
		FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(fieldsJSON)},
	}})
	return u
}

func decodeOne(t *testing.T, s string) *unstructured.Unstructured {
	t.Helper()
	objs, err := DecodeManifests([]byte(s))
	require.False(t, err != nil || len(objs) != 1, "decode %q: %v", s, err)
	return objs[0]
}

const desiredDeployment = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: c, namespace: ns, labels: {app: c}, creationTimestamp: null}
spec:
  replicas: 1
  template:
    spec:
      containers:
      - {name: c, image: img:1, ports: [{containerPort: 80}]}
`

const liveDeployment = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: c, namespace: ns, labels: {app: c, other: x}, uid: u1, resourceVersion: "7"}
spec:
  replicas: 1
  progressDeadlineSeconds: 600
  template:
    spec:
      containers:
      - {name: sidecar, image: side:1}
      - {name: c, image: img:1, imagePullPolicy: IfNotPresent, ports: [{containerPort: 80, protocol: TCP}]}
status: {replicas: 1}
`

const deploymentFields = `{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:replicas":{},"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"c\"}":{".":{},"f:name":{},"f:image":{},"f:ports":{"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{}}}}}}}}}`

func TestOwnedFieldsMatch(t *testing.T) {
	tests := []struct {
		name       string
		desired    string
		live       string
		manager    string
		apiVersion string
		fields     string
		want       bool
	}{
		{"same owned fields, defaults and other managers' fields ignored", desiredDeployment, liveDeployment, FieldManager, "apps/v1", deploymentFields, true},
		{"another manager applied it", desiredDeployment, liveDeployment, "kubectl", "apps/v1", deploymentFields, false},
		{"applied with another API version", desiredDeployment, liveDeployment, FieldManager, "apps/v1beta2", deploymentFields, false},
		{"desired value differs", replace(desiredDeployment, "img:1", "img:2"), liveDeployment, FieldManager, "apps/v1", deploymentFields, false},
		{"desired adds a field", replace(desiredDeployment, "replicas: 1", "replicas: 1\n  paused: true"), liveDeployment, FieldManager, "apps/v1", deploymentFields, false},
		{"desired drops an owned field", replace(desiredDeployment, "labels: {app: c}, ", ""), liveDeployment, FieldManager, "apps/v1", deploymentFields, false},
		{"someone took over a field", desiredDeployment, replace(liveDeployment, "replicas: 1\n  prog", "replicas: 3\n  prog"), FieldManager, "apps/v1",
			replace(deploymentFields, `"f:replicas":{},`, ""), false},
		{"broken field set", desiredDeployment, liveDeployment, FieldManager, "apps/v1", `{"f:spec":`, false},
		{"set-valued list", `{apiVersion: v1, kind: X, metadata: {name: a}, spec: {finalizers: [a, b]}}`,
			`{apiVersion: v1, kind: X, metadata: {name: a}, spec: {finalizers: [a, b, c]}}`, FieldManager, "v1",
			`{"f:spec":{"f:finalizers":{"v:\"a\"":{},"v:\"b\"":{}}}}`, true},
		{"indexed list", `{apiVersion: v1, kind: X, metadata: {name: a}, spec: {args: [x]}}`,
			`{apiVersion: v1, kind: X, metadata: {name: a}, spec: {args: [x, y]}}`, FieldManager, "v1",
			`{"f:spec":{"f:args":{"i:0":{}}}}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			live := liveWith(t, tt.live, tt.manager, tt.apiVersion, tt.fields)
			assert.Equal(t, tt.want, ownedFieldsMatch(decodeOne(t, tt.desired), live, FieldManager))
		})
	}
}

func replace(s, old, new string) string {
	if !strings.Contains(s, old) {
		panic("replace: " + old + " not found")
	}
	return strings.Replace(s, old, new, 1)
}
