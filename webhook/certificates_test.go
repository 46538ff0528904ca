package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/piraeusctl/piraeusctl/gencert"
	"github.com/piraeusctl/piraeusctl/internal/kubetest"
)

// TestGencertOnceTwice: the first pass creates the Secret and sets the
// caBundle; the second finds nothing to do and writes nothing.
func TestGencertOnceTwice(t *testing.T) {
	e := newTestEnv(t)
	e.createWebhookConfig(t, "https://127.0.0.1:1")
	var logs bytes.Buffer
	opts := gencert.DefaultRunOptions()
	opts.Options = e.gencertOptions()
	opts.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts.Once = true

	cfg, first := kubetest.Counting(e.cfg)
	require.NoError(t, gencert.Run(t.Context(), cfg, opts))
	require.Len(t, first.Writes(), 2, "create the Secret, apply the caBundle: %v", first.Writes())

	cfg, second := kubetest.Counting(e.cfg)
	require.NoError(t, gencert.Run(t.Context(), cfg, opts))
	require.NotZero(t, second.Total(), "the second pass reads")
	require.Empty(t, second.Writes(), "a pass with nothing to do writes nothing: %s", second)

	secret, err := e.client.CoreV1().Secrets(e.namespace).Get(t.Context(), opts.SecretName, metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, corev1.SecretTypeTLS, secret.Type)
	cas, err := gencert.ParseCerts(secret.Data[gencert.KeyCACert])
	require.NoError(t, err)
	require.Len(t, cas, 1)
	certs, err := gencert.ParseCerts(secret.Data[corev1.TLSCertKey])
	require.NoError(t, err)
	require.NoError(t, certs[0].VerifyHostname(gencert.ServiceSANs(opts.ServiceName, e.namespace, nil).DNS[3]))
	require.NoError(t, certs[0].VerifyHostname("127.0.0.1"))
	_, err = certs[0].Verify(x509.VerifyOptions{Roots: poolOf(cas...), DNSName: opts.ServiceName + "." + e.namespace + ".svc"})
	require.NoError(t, err)

	config, err := e.client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(t.Context(), e.config, metav1.GetOptions{})
	require.NoError(t, err)
	require.Len(t, config.Webhooks, len(Resources()))
	for _, w := range config.Webhooks {
		require.Equal(t, secret.Data[gencert.KeyCACert], w.ClientConfig.CABundle, "webhook %s", w.Name)
	}
	managers := map[string]metav1.ManagedFieldsOperationType{}
	for _, m := range config.ManagedFields {
		managers[m.Manager] = m.Operation
	}
	require.Equal(t, metav1.ManagedFieldsOperationApply, managers[gencert.FieldManager], "caBundle set by server-side apply as %s", gencert.FieldManager)

	for _, key := range []string{gencert.KeyTLSKey, gencert.KeyCAKey} {
		require.NotContains(t, logs.String(), string(secret.Data[key]))
	}
	require.NotContains(t, logs.String(), "PRIVATE KEY")
	require.NotContains(t, logs.String(), base64.StdEncoding.EncodeToString(secret.Data[gencert.KeyTLSKey])[:40])
	require.Contains(t, logs.String(), "new serving certificate")
}

func poolOf(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

// rotationWatch records what clients see during a rotation.
type rotationWatch struct {
	mu           sync.Mutex
	maxBundle    int
	cas, serving map[string]bool
	requests     atomic.Int64
	failures     []string
}

func (w *rotationWatch) fail(msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.failures = append(w.failures, msg)
}

// TestGencertRotationWithoutFailures runs the gencert loop (with leader
// election) with lifetimes of seconds while requests stream through the
// API server to the webhook and fresh TLS clients trusting the published
// caBundle connect to it: the CA rotates, the bundle carries both CAs
// during the switch, and not one request fails.
func TestGencertRotationWithoutFailures(t *testing.T) {
	e := newTestEnv(t)
	dir := t.TempDir()
	opts := gencert.DefaultRunOptions()
	opts.Options = e.gencertOptions()
	opts.Policy = gencert.Policy{CAValidity: 30 * time.Second, CARenewBefore: 18 * time.Second, CertValidity: 14 * time.Second,
		CertRenewBefore: 8 * time.Second, Grace: 2 * time.Second, CAName: "rotation-test-ca"}
	opts.Identity, opts.LeaseName = "test", "gencert-rotation-test"
	opts.Resync, opts.RetryAfter, opts.HealthAddr = 500*time.Millisecond, 200*time.Millisecond, ""

	g, err := gencert.New(e.client, opts.Options)
	require.NoError(t, err)
	_, err = g.Pass(t.Context())
	require.NoError(t, err)
	e.secretSync(t, dir, 700*time.Millisecond) // a kubelet that lags: what the grace period is for
	base := startServer(t, e.cfg, dir)
	e.createWebhookConfig(t, base)
	_, err = g.Pass(t.Context())
	require.NoError(t, err)
	valid := satelliteYAML + vgPool
	require.NoError(t, wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 20*time.Second, true, func(context.Context) (bool, error) {
		return e.dryRunCreate(t, valid) == nil, nil
	}), "the webhook never admitted a valid object")
	initialCA := e.bundle(t)[0]

	ctx, cancel := context.WithCancel(t.Context())
	var workers sync.WaitGroup
	workers.Add(1)
	go func() {
		defer workers.Done()
		assert.NoError(t, gencert.Run(ctx, e.cfg, opts), "gencert loop")
	}()
	w := &rotationWatch{cas: map[string]bool{}, serving: map[string]bool{}}
	for range 2 {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for ctx.Err() == nil {
				w.requests.Add(1)
				if err := e.dryRunCreate(t, valid); err != nil && ctx.Err() == nil {
					w.fail("admission request: " + err.Error())
				}
			}
		}()
	}
	workers.Add(1)
	go func() {
		defer workers.Done()
		for ctx.Err() == nil {
			w.handshake(ctx, e, t, base)
			time.Sleep(20 * time.Millisecond)
		}
	}()

	// Wait for a complete rotation: a new CA, trusted alone.
	err = wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 90*time.Second, false, func(context.Context) (bool, error) {
		b := e.bundle(t)
		return len(b) == 1 && !b[0].Equal(initialCA), nil
	})
	time.Sleep(2 * time.Second) // and a little beyond
	cancel()
	workers.Wait()
	require.NoError(t, err, "the CA was not rotated")

	w.mu.Lock()
	defer w.mu.Unlock()
	require.Empty(t, w.failures, "requests failed during the rotation (%d requests)", w.requests.Load())
	require.EqualValues(t, 2, w.maxBundle, "the caBundle carried the old and the new CA during the switch")
	require.GreaterOrEqual(t, len(w.cas), 2, "two CAs seen")
	require.GreaterOrEqual(t, len(w.serving), 3, "the serving certificate was renewed and then moved to the new CA")
	require.Greater(t, w.requests.Load(), int64(20), "too few admission requests to prove anything")
	t.Logf("rotation: %d admission requests, %d serving certificates, %d CAs seen, none failed", w.requests.Load(), len(w.serving), len(w.cas))
}

// bundle returns the CAs in the caBundle of the test's first webhook.
func (e *testEnv) bundle(t *testing.T) []*x509.Certificate {
	t.Helper()
	config, err := e.client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(t.Context(), e.config, metav1.GetOptions{})
	require.NoError(t, err)
	cas, err := gencert.ParseCerts(config.Webhooks[0].ClientConfig.CABundle)
	require.NoError(t, err)
	return cas
}

// handshake connects to the webhook as a new API server connection would:
// trusting exactly the caBundle published now, checking 127.0.0.1.
func (w *rotationWatch) handshake(ctx context.Context, e *testEnv, t *testing.T, base string) {
	config, err := e.client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, e.config, metav1.GetOptions{})
	if err != nil {
		return // the test is ending
	}
	bundle := config.Webhooks[0].ClientConfig.CABundle
	cas, err := gencert.ParseCerts(bundle)
	if err != nil {
		w.fail("published caBundle unreadable: " + err.Error())
		return
	}
	conn, err := (&tls.Dialer{Config: &tls.Config{RootCAs: poolOf(cas...), ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}}).
		DialContext(ctx, "tcp", strings.TrimPrefix(base, "https://"))
	if err != nil {
		if ctx.Err() == nil {
			w.fail("TLS handshake with the published caBundle: " + err.Error())
		}
		return
	}
	leaf := conn.(*tls.Conn).ConnectionState().PeerCertificates[0]
	_ = conn.Close()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.maxBundle = max(w.maxBundle, len(cas))
	for _, c := range cas {
		w.cas[c.SerialNumber.String()] = true
	}
	w.serving[leaf.SerialNumber.String()] = true
}
