package webhook

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	"sigs.k8s.io/yaml"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	"github.com/piraeusctl/piraeusctl/plan"
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
	data, err := os.ReadFile("../render/testdata/three-nodes.yaml")
	require.NoError(t, err)
	var paths []string
	for _, doc := range strings.Split(string(data), "\n---\n") {
		if !strings.Contains(doc, "kind: ValidatingWebhookConfiguration") {
			continue
		}
		var config struct {
			Webhooks []struct {
				ClientConfig struct {
					Service struct{ Path string }
				} `json:"clientConfig"`
			}
		}
		require.NoError(t, yaml.Unmarshal([]byte(doc), &config))
		for _, w := range config.Webhooks {
			paths = append(paths, w.ClientConfig.Service.Path)
		}
	}
	var want []string
	for _, r := range Resources() {
		want = append(want, r.Path())
	}
	require.ElementsMatch(t, want, paths)
}

// FuzzRotate: whatever the Secret holds, a pass yields a Secret whose
// serving certificate verifies against its CA bundle for the service names.
func FuzzRotate(f *testing.F) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	good, err := rotate(t0, nil, testNames, always, testPolicy())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good.data[KeyCACert], good.data[KeyCAKey], good.data[KeyTLSCert], good.data[KeyTLSKey])
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), []byte{}, []byte("junk"), good.data[KeyCAKey])
	f.Add(good.data[KeyTLSCert], good.data[KeyTLSKey], good.data[KeyCACert], good.data[KeyCAKey])
	f.Fuzz(func(t *testing.T, caCert, caKey, tlsCert, tlsKey []byte) {
		data := map[string][]byte{KeyCACert: caCert, KeyCAKey: caKey, KeyTLSCert: tlsCert, KeyTLSKey: tlsKey}
		r, err := rotate(t0.Add(time.Hour), data, testNames, always, testPolicy())
		if err != nil {
			t.Fatal(err)
		}
		s := readState(t0.Add(time.Hour), r.data)
		if s.signing == nil || s.cert == nil {
			t.Fatalf("no usable CA or serving certificate after a pass: %v", r.changes)
		}
		if issuerOf(s.cert, s.cas) == nil {
			t.Fatal("the serving certificate is not signed by a CA in the bundle")
		}
	})
}

// BenchmarkHandle measures one admission decision (decode, schema, rules)
// for a satellite configuration update, the webhook's hot path.
func BenchmarkHandle(b *testing.B) {
	v := testValidator(b, nil)
	valid := satelliteYAML + vgPool + filesPool
	req := request(b, admissionv1.Update, valid, valid)
	b.ReportAllocs()
	for b.Loop() {
		if resp := v.Handle(b.Context(), req); !resp.Allowed {
			b.Fatal(resp.Result.Message)
		}
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
