package render

import (
	"encoding/json"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	sigsjson "sigs.k8s.io/json"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	piraeusv1 "github.com/piraeusctl/piraeusctl/api/v1"
	"github.com/piraeusctl/piraeusctl/plan"
	"github.com/piraeusctl/piraeusctl/planfile"
)

// strictChecker decodes built-in kinds strictly into their Go types and
// validates custom resources as the API server and the webhook would
// (package plan's checks against the CRDs the plan ships).
type strictChecker struct {
	scheme  *runtime.Scheme
	schemas *plan.Schemas
}

func newStrictChecker(t *testing.T) *strictChecker {
	t.Helper()
	s := runtime.NewScheme()
	require.NoError(t, clientgoscheme.AddToScheme(s))
	require.NoError(t, apiextensionsv1.AddToScheme(s))
	// piraeus.io kinds the plan renders (LinstorSatellite) are outputs, not
	// plan inputs: they decode strictly into their Go types.
	require.NoError(t, piraeusv1.AddToScheme(s))
	schemas, err := plan.NewSchemas()
	require.NoError(t, err)
	return &strictChecker{scheme: s, schemas: schemas}
}

func (c *strictChecker) check(u *unstructured.Unstructured) error {
	data, err := json.Marshal(u.Object)
	if err != nil {
		return err
	}
	if typed, err := c.scheme.New(u.GroupVersionKind()); err == nil {
		strict, err := sigsjson.UnmarshalStrict(data, typed, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
		if err != nil {
			return err
		}
		if len(strict) > 0 {
			return fmt.Errorf("strict decode: %v", strict)
		}
		return nil
	}
	if errs := plan.ValidateObject(c.schemas, data); len(errs) > 0 {
		return errs
	}
	return nil
}

// featureModel switches on everything optional: TLS everywhere, a custom
// repository, tolerations, node selection, pod templates and patches.
func featureModel() *plan.Model {
	m := newModel(modelOpts{nodes: 2, satTemplate: `{"spec":{"containers":[{"name":"linstor-satellite","resources":{"limits":{"memory":"1Gi"}}}]}}`})
	spec := &m.Cluster.Spec
	spec.Repository = "registry.example.com/mirror"
	spec.NodeSelector = map[string]string{"kubernetes.io/os": "linux"}
	spec.NodeAffinity = &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
		MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "storage", Operator: corev1.NodeSelectorOpExists}},
	}}}
	spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "storage", Effect: corev1.TaintEffectNoSchedule}}
	spec.LinstorPassphraseSecret = "linstor-passphrase"
	spec.ApiTLS = &piraeusv1.LinstorClusterApiTLS{}
	spec.InternalTLS = &piraeusv1.TLSConfig{SecretName: "controller-internal"}
	spec.Properties = []piraeusv1.LinstorControllerProperty{{Name: "DrbdOptions/Net/max-buffers", Value: "10000"}}
	spec.CSIController = &piraeusv1.DeploymentComponentSpec{
		ComponentSpec: piraeusv1.ComponentSpec{Enabled: true, PodTemplate: json.RawMessage(`{"spec":{"nodeSelector":{"node-role.kubernetes.io/control-plane":""}}}`)},
		Replicas:      ptr.To[int32](3),
	}
	spec.Controller = &piraeusv1.ComponentSpec{Enabled: true, PodTemplate: json.RawMessage(`{"metadata":{"annotations":{"example.com/x":"y"}}}`)}
	spec.Patches = []piraeusv1.Patch{
		{Target: &piraeusv1.Selector{Kind: "Deployment", Name: "linstor-controller"}, Patch: "- op: add\n  path: /spec/template/spec/hostNetwork\n  value: true\n"},
		{Patch: "apiVersion: v1\nkind: Service\nmetadata:\n  name: linstor-controller\n  namespace: piraeus-datastore\nspec:\n  type: NodePort\n"},
	}
	for i := range m.Satellites {
		m.Satellites[i].InternalTLS = &piraeusv1.TLSConfigWithHandshakeDaemon{TLSHandshakeDaemon: true}
	}
	m.Passthrough = []map[string]any{{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "extra", "namespace": "piraeus-datastore", "uid": "drop-me"},
		"data":     map[string]any{"count": "3"},
	}}
	return m
}

func TestStrictDecodeEveryObject(t *testing.T) {
	c := newStrictChecker(t)
	models := map[string]*plan.Model{
		"three-nodes": newModel(modelOpts{nodes: 3, fileDir: "/srv/files"}),
		"features":    featureModel(),
	}
	for name, m := range models {
		t.Run(name, func(t *testing.T) {
			p := mustRender(t, m, testOptions())
			for _, o := range p.Objects {
				assert.NoError(t, c.check(o), "%s", planfile.ObjectID(o))
			}
		})
	}
}

// The checker itself must reject typos, or the test above proves nothing.
func TestStrictCheckerRejectsTypos(t *testing.T) {
	c := newStrictChecker(t)
	bad := []*unstructured.Unstructured{
		{Object: map[string]any{"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": map[string]any{"name": "x"},
			"spec": map[string]any{"template": map[string]any{"spec": map[string]any{"hostNetwrok": true}}}}},
		{Object: map[string]any{"apiVersion": "storage.piraeus.io/v1alpha1", "kind": "StorageTopology", "metadata": map[string]any{"name": "default"},
			"spec": map[string]any{"allocation": map[string]any{"portMin": int64(1), "portMax": int64(2), "minorMin": int64(1), "minorMax": int64(2)}, "nodez": []any{}}}},
		{Object: map[string]any{"apiVersion": "example.com/v1", "kind": "Unknown", "metadata": map[string]any{"name": "x"}}},
	}
	for _, u := range bad {
		assert.Error(t, c.check(u), "%s: accepted", planfile.ObjectID(u))
	}
	_ = metav1.Now
}
