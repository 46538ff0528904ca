package webhook

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	"sigs.k8s.io/yaml"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	"github.com/piraeusctl/piraeusctl/pipeline"
	"github.com/piraeusctl/piraeusctl/plan"
	"github.com/piraeusctl/piraeusctl/plan/placement"
)

func testValidator(t testing.TB, live LiveSource) *validator {
	t.Helper()
	s, err := plan.NewSchemas()
	require.NoError(t, err)
	return &validator{schemas: s, live: live, log: discardLogger()}
}

func request(t testing.TB, op admissionv1.Operation, oldDoc, newDoc string) admission.Request {
	t.Helper()
	raw := func(doc string) runtime.RawExtension {
		if doc == "" {
			return runtime.RawExtension{}
		}
		data, err := yaml.YAMLToJSON([]byte(doc))
		require.NoError(t, err)
		return runtime.RawExtension{Raw: data}
	}
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		Operation: op, Name: "storage",
		Kind:   metav1.GroupVersionKind{Group: "piraeus.io", Version: "v1", Kind: "LinstorSatelliteConfiguration"},
		Object: raw(newDoc), OldObject: raw(oldDoc),
	}}
}

// fakeLive answers with a fixed topology, no volumes, or an error.
type fakeLive struct {
	topology *storagev1alpha1.StorageTopology
	err      error
}

func (f fakeLive) Live(context.Context, string) (plan.Live, error) {
	return plan.Live{Topology: f.topology, Volumes: []storagev1alpha1.StorageVolume{}}, f.err
}

func TestHandle(t *testing.T) {
	valid := satelliteYAML + vgPool + filesPool
	emptyTopology := &storagev1alpha1.StorageTopology{}
	tests := []struct {
		name    string
		live    LiveSource
		req     admission.Request
		allowed bool
		code    int32
		message string
	}{
		{"valid create", nil, request(t, admissionv1.Create, "", valid), true, http.StatusOK, ""},
		{"invalid create", nil, request(t, admissionv1.Create, "", satelliteYAML+"  - name: nopool\n"), false, http.StatusUnprocessableEntity,
			`LinstorSatelliteConfiguration/storage: spec.storagePools[0]: Invalid value: "nopool": expected exactly one of`},
		{"schema violation", nil, request(t, admissionv1.Create, "", satelliteYAML+"  - name: vg1\n    lvmPool: []\n"), false, http.StatusUnprocessableEntity,
			`spec.storagePools[0].lvmPool: expected a map, found a list`},
		{"update refused", nil, request(t, admissionv1.Update, valid, satelliteYAML+strings.Replace(vgPool, "VG", "X", 1)+filesPool), false, http.StatusForbidden,
			`spec.storagePools[0].lvmPool.volumeGroup: Forbidden: storage pool "vg1" cannot change its volume group`},
		{"invalid update is invalid first", nil, request(t, admissionv1.Update, valid, satelliteYAML+"  - name: nopool\n"), false, http.StatusUnprocessableEntity, "expected exactly one of"},
		{"removal without live knowledge", nil, request(t, admissionv1.Update, valid, satelliteYAML+vgPool), false, http.StatusForbidden, `storage pool "files" was removed`},
		{"removal, empty topology", fakeLive{topology: emptyTopology}, request(t, admissionv1.Update, valid, satelliteYAML+vgPool), true, http.StatusOK, ""},
		{"removal, cluster unreadable", fakeLive{topology: emptyTopology, err: errors.New("boom")}, request(t, admissionv1.Update, valid, satelliteYAML+vgPool), false, http.StatusForbidden, "may still hold volumes"},
		{"delete", nil, request(t, admissionv1.Delete, valid, ""), true, http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := testValidator(t, tt.live).Handle(t.Context(), tt.req)
			require.Equal(t, tt.allowed, resp.Allowed, "result: %+v", resp.Result)
			require.Equal(t, tt.code, resp.Result.Code)
			require.Contains(t, resp.Result.Message, tt.message)
			if !tt.allowed {
				require.NotEmpty(t, resp.Result.Details.Causes)
				require.Equal(t, "LinstorSatelliteConfiguration", resp.Result.Details.Kind)
				require.NotContains(t, resp.Result.Message, "admission:", "no file positions in a denial")
			}
		})
	}
}

// TestResourcesMatchRenderedConfiguration: the server's paths are the ones
// the rendered ValidatingWebhookConfiguration calls.
func TestResourcesMatchRenderedConfiguration(t *testing.T) {
	res, err := pipeline.Run(t.Context(), pipeline.Options{Files: []string{"../testdata/minimal/input"},
		Build: plan.BuildOptions{Placement: placement.DefaultOptions()}})
	require.NoError(t, err)
	var paths []string
	for _, o := range res.Plan.Objects {
		if o.GetKind() != "ValidatingWebhookConfiguration" {
			continue
		}
		webhooks, _, err := unstructured.NestedSlice(o.Object, "webhooks")
		require.NoError(t, err)
		for _, w := range webhooks {
			path, _, err := unstructured.NestedString(w.(map[string]any), "clientConfig", "service", "path")
			require.NoError(t, err)
			paths = append(paths, path)
		}
	}
	var want []string
	for _, r := range Resources() {
		want = append(want, r.Path())
	}
	require.ElementsMatch(t, want, paths)
}

// BenchmarkHandle measures one admission decision (decode, schema, rules)
// for a satellite configuration update, the webhook's hot path.
func BenchmarkHandle(b *testing.B) {
	v := testValidator(b, nil)
	valid := satelliteYAML + vgPool + filesPool
	req := request(b, admissionv1.Update, valid, valid)
	b.ReportAllocs()
	for b.Loop() {
		resp := v.Handle(b.Context(), req)
		require.True(b, resp.Allowed, "%v", resp.Result.Message)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// fakeInputs answers Inputs with fixed sources.
type fakeInputs []plan.Source

func (f fakeInputs) Inputs(context.Context, string) ([]plan.Source, error) { return f, nil }

const tomlPatchYAML = `apiVersion: piraeus.io/v1
kind: LinstorSatelliteConfiguration
metadata:
  name: storage
spec:
  patches:
    - target: {kind: ConfigMap, name: satellite-config}
      patch: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: satellite-config}
        data:
          linstor_satellite.toml: "[logging]"
`

// TestHandleWarnsAboutPatches: an admitted object whose patch targets
// nothing gets plan's warning as an admission warning, as kubectl prints it.
func TestHandleWarnsAboutPatches(t *testing.T) {
	nodes := fakeInputs{{Name: "cluster/Node.yaml", Data: []byte("apiVersion: v1\nkind: Node\nmetadata:\n  name: n1\n")}}
	v := testValidator(t, nil)
	v.inputs, v.namespace = nodes, plan.DefaultNamespace
	resp := v.Handle(t.Context(), request(t, admissionv1.Create, "", tomlPatchYAML))
	require.True(t, resp.Allowed, resp.Result)
	require.Equal(t, []string{"LinstorSatelliteConfiguration/storage: spec.patches[0].target: target (kind=ConfigMap, name=satellite-config) " +
		"matches no object in the plan, so the patch is skipped (as upstream skips it): upstream's satellite configuration file " +
		"(linstor_satellite.toml in the ConfigMap satellite-config) does not exist here: the agent's flags replace it " +
		"(see piraeusctl agent --help; the log level is --log-level)"}, resp.Warnings)

	resp = v.Handle(t.Context(), request(t, admissionv1.Create, "", satelliteYAML+vgPool))
	require.True(t, resp.Allowed)
	require.Empty(t, resp.Warnings, "no patches, no warnings")
}
