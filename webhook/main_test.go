package webhook

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/piraeusctl/piraeusctl/api/crds"
	"github.com/piraeusctl/piraeusctl/gencert"
	"github.com/piraeusctl/piraeusctl/internal/kubetest"
)

// kube is the API server the integration tests of this package share.
var kube kubetest.Env

func TestMain(m *testing.M) {
	ctrllog.SetLogger(logr.Discard())
	os.Exit(kube.Main(m))
}

var testSeq atomic.Int64

// testEnv is one test's namespace, clients and names.
type testEnv struct {
	cfg       *rest.Config
	client    kubernetes.Interface
	namespace string
	config    string // ValidatingWebhookConfiguration name
}

// newTestEnv installs the CRDs and makes a namespace for the test.
func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	cfg := kube.Config(t)
	client, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	installCRDs(t, cfg)
	id := strconv.FormatInt(testSeq.Add(1), 10)
	e := &testEnv{cfg: cfg, client: client, namespace: "webhook-" + id, config: "piraeus-webhook-test-" + id}
	_, err = client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: e.namespace}}, metav1.CreateOptions{})
	require.NoError(t, err)
	return e
}

// gencertOptions are the options for this test's Secret and configuration,
// with 127.0.0.1 in the certificate since the API server calls by URL. The
// internal TLS is off: these tests count the webhook's writes (package
// gencert tests the internal TLS).
func (e *testEnv) gencertOptions() gencert.Options {
	o := gencert.DefaultOptions()
	o.Namespace = e.namespace
	o.WebhookConfigName = e.config
	o.ExtraSANs = []string{"127.0.0.1"}
	o.Internal.Enabled = false
	return o
}

var crdOnce sync.Mutex

// installCRDs creates the shipped CRDs (once per API server) and waits
// until they are established.
func installCRDs(t *testing.T, cfg *rest.Config) {
	t.Helper()
	crdOnce.Lock()
	defer crdOnce.Unlock()
	client, err := apiextensionsclient.NewForConfig(cfg)
	require.NoError(t, err)
	all, err := crds.All()
	require.NoError(t, err)
	for i := range all {
		_, err := client.ApiextensionsV1().CustomResourceDefinitions().Create(t.Context(), &all[i], metav1.CreateOptions{})
		if !apierrors.IsAlreadyExists(err) {
			require.NoError(t, err)
		}
	}
	for _, crd := range all {
		err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			live, err := client.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, crd.Name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			for _, c := range live.Status.Conditions {
				if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		})
		require.NoError(t, err, "CRD %s not established", crd.Name)
	}
}

// startServer serves the webhook on 127.0.0.1 with the certificate files in
// dir and returns its base URL.
func startServer(t *testing.T, cfg *rest.Config, dir string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	live, err := NewClusterLive(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- ServeListener(ctx, ln, ServerOptions{CertDir: dir, CertWatchInterval: 200 * time.Millisecond, Live: live, Inputs: live})
	}()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return "https://" + ln.Addr().String()
}

// createWebhookConfig creates the ValidatingWebhookConfiguration the plan
// renders, but calling base by URL, and deletes it when the test ends (a
// failurePolicy Fail webhook without a server would block later tests).
func (e *testEnv) createWebhookConfig(t *testing.T, base string) {
	t.Helper()
	fail, none := admissionregistrationv1.Fail, admissionregistrationv1.SideEffectClassNone
	timeout := int32(5)
	config := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: e.config}}
	for _, r := range Resources() {
		url := base + r.Path()
		config.Webhooks = append(config.Webhooks, admissionregistrationv1.ValidatingWebhook{
			Name:                    "v" + strings.ToLower(r.Kind) + "." + r.Group,
			AdmissionReviewVersions: []string{"v1"},
			SideEffects:             &none,
			FailurePolicy:           &fail,
			TimeoutSeconds:          &timeout,
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: &url},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{r.Group}, APIVersions: []string{r.Version}, Resources: []string{r.Resource}},
			}},
		})
	}
	configs := e.client.AdmissionregistrationV1().ValidatingWebhookConfigurations()
	_, err := configs.Create(t.Context(), config, metav1.CreateOptions{FieldManager: "piraeusctl"})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = configs.Delete(context.Background(), e.config, metav1.DeleteOptions{})
	})
}

// secretSync copies the Secret into dir the way the kubelet updates a
// Secret volume (files behind an atomically swapped ..data symlink), every
// interval until the test ends.
func (e *testEnv) secretSync(t *testing.T, dir string, interval time.Duration) {
	t.Helper()
	sync := func(ctx context.Context) error {
		s, err := e.client.CoreV1().Secrets(e.namespace).Get(ctx, gencert.DefaultOptions().SecretName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		return writeAtomic(dir, s.Data)
	}
	require.NoError(t, sync(t.Context()))
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for ctx.Err() == nil {
			_ = sync(ctx)
			select {
			case <-ctx.Done():
			case <-time.After(interval):
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-stopped })
}

// writeAtomic writes data as the kubelet's AtomicWriter does: into a fresh
// timestamped folder, then one rename of the ..data symlink.
func writeAtomic(dir string, data map[string][]byte) error {
	if current, err := os.Readlink(filepath.Join(dir, "..data")); err == nil {
		same := true
		for k, v := range data {
			old, err := os.ReadFile(filepath.Join(dir, current, k))
			same = same && err == nil && string(old) == string(v)
		}
		if same {
			return nil
		}
	}
	ts := fmt.Sprintf("..%d", time.Now().UnixNano())
	if err := os.Mkdir(filepath.Join(dir, ts), 0o755); err != nil {
		return err
	}
	for k, v := range data {
		if err := os.WriteFile(filepath.Join(dir, ts, k), v, 0o600); err != nil {
			return err
		}
	}
	old, _ := os.Readlink(filepath.Join(dir, "..data"))
	tmp := filepath.Join(dir, "..data_tmp")
	_ = os.Remove(tmp)
	if err := os.Symlink(ts, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		return err
	}
	for k := range data {
		link := filepath.Join(dir, k)
		if _, err := os.Lstat(link); os.IsNotExist(err) {
			if err := os.Symlink(filepath.Join("..data", k), link); err != nil {
				return err
			}
		}
	}
	if old != "" {
		return os.RemoveAll(filepath.Join(dir, old))
	}
	return nil
}
