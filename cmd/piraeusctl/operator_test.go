package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/piraeusctl/piraeusctl/internal/kubetest"
	"github.com/piraeusctl/piraeusctl/internal/testpki"
)

// TestOperatorCommand starts `piraeusctl operator` and sends it an
// AdmissionReview as the API server would: an invalid object is denied with
// plan's field path; /readyz answers once it serves.
func TestOperatorCommand(t *testing.T) {
	env := kubetest.Start(t)
	ca := testpki.NewCA(t, "webhook-test")
	dir := ca.WriteServerDir(t)
	addr := freeAddr(t)
	startOperator(t, "--kubeconfig", env.Kubeconfig(t), "--cert-dir", dir, "--webhook-addr", addr)

	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: "1", Operation: admissionv1.Create, Name: "storage",
			Kind:   metav1.GroupVersionKind{Group: "piraeus.io", Version: "v1", Kind: "LinstorSatelliteConfiguration"},
			Object: runtime.RawExtension{Raw: []byte(`{"apiVersion":"piraeus.io/v1","kind":"LinstorSatelliteConfiguration","metadata":{"name":"storage"},"spec":{"storagePools":[{"name":"nopool"}]}}`)},
		},
	}
	body, err := json.Marshal(review)
	require.NoError(t, err)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(ca.PEM))
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
	resp, err := client.Post("https://"+addr+"/validate-piraeus-io-v1-linstorsatelliteconfigurations", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	var out admissionv1.AdmissionReview
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	require.False(t, out.Response.Allowed)
	require.Contains(t, out.Response.Result.Message, `LinstorSatelliteConfiguration/storage: spec.storagePools[0]: Invalid value: "nopool": expected exactly one of`)
}

// startOperator runs `piraeusctl operator` as the webhook only
// (--converge=false: these tests converge with the CLI) with args (and a
// health address) until the test ends, when it must exit cleanly, and waits
// until its /readyz answers.
func startOperator(t *testing.T, args ...string) {
	t.Helper()
	health := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var logs syncBuffer
	go func() {
		done <- run(ctx, append([]string{"operator", "--converge=false", "--health-addr", health}, args...), strings.NewReader(""), io.Discard, &logs)
	}()
	t.Cleanup(func() {
		cancel()
		assert.Equal(t, exitOK, <-done, logs.String())
	})
	require.NoError(t, wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		resp, err := http.Get("http://" + health + "/readyz")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	}), "operator never became ready: %s", logs.String())
}
