package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/piraeusctl/piraeusctl/gencert"
	"github.com/piraeusctl/piraeusctl/internal/kubetest"
)

// TestGencertCommand runs `gencert --once` twice as a user would: the first
// creates the Secret, the second leaves it as it is; no key reaches the log.
func TestGencertCommand(t *testing.T) {
	env := kubetest.Start(t)
	client, err := kubernetes.NewForConfig(env.Config(t))
	require.NoError(t, err)
	_, err = client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "gencert-cli"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	args := []string{"gencert", "--once", "--kubeconfig", env.Kubeconfig(t), "--namespace", "gencert-cli", "--health-addr", ""}

	code, _, stderr := runCLI(t, args...)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stderr, "new serving certificate")
	first, err := client.CoreV1().Secrets("gencert-cli").Get(t.Context(), "webhook-server-cert", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, corev1.SecretTypeTLS, first.Type)

	code, _, stderr2 := runCLI(t, args...)
	require.Equal(t, exitOK, code, stderr2)
	second, err := client.CoreV1().Secrets("gencert-cli").Get(t.Context(), "webhook-server-cert", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, first.ResourceVersion, second.ResourceVersion, "the second pass left the Secret alone")
	require.NotContains(t, stderr+stderr2, "PRIVATE KEY")

	code, _, stderr = runCLI(t, "gencert", "--once", "--kubeconfig", env.Kubeconfig(t), "--namespace", "gencert-cli", "--renew-before", "2400h")
	require.Equal(t, exitInvalid, code)
	require.True(t, strings.Contains(stderr, "--renew-before"), stderr)
}

// TestGencertRenderedRBAC applies a plan and runs gencert as its
// ServiceAccount: the rendered Role is enough for the webhook's Secret and
// every internal TLS Secret, and grants nothing on other Secrets.
func TestGencertRenderedRBAC(t *testing.T) {
	env := kubetest.Start(t)
	code, _, stderr := runCLI(t, "apply", "-f", "../../testdata/three-nodes/input", "--kubeconfig", env.Kubeconfig(t), "--wait=false")
	require.Equal(t, exitOK, code, stderr)
	const ns = "piraeus-datastore"
	cfg := env.Config(t)
	cfg.Impersonate.UserName = "system:serviceaccount:" + ns + ":piraeus-operator-gencert"
	opts := gencert.DefaultRunOptions()
	opts.Namespace, opts.Once = ns, true
	require.NoError(t, gencert.Run(t.Context(), cfg, opts))

	admin, err := kubernetes.NewForConfig(env.Config(t))
	require.NoError(t, err)
	secrets, err := admin.CoreV1().Secrets(ns).List(t.Context(), metav1.ListOptions{LabelSelector: gencert.ManagedByLabel + "=" + gencert.FieldManager})
	require.NoError(t, err)
	var names []string
	for _, s := range secrets.Items {
		names = append(names, s.Name)
	}
	require.Equal(t, []string{
		"linstor-controller-internal-tls", "linstor-internal-ca",
		"linstor-satellite-internal-tls-worker-1", "linstor-satellite-internal-tls-worker-2", "linstor-satellite-internal-tls-worker-3",
		"webhook-server-cert",
	}, names)

	as, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	_, err = admin.CoreV1().Secrets(ns).Create(t.Context(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: ns}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = as.CoreV1().Secrets(ns).Get(t.Context(), "other", metav1.GetOptions{})
	require.Error(t, err, "gencert reads no other Secret")
	_, err = as.CoreV1().Secrets(ns).List(t.Context(), metav1.ListOptions{})
	require.Error(t, err, "gencert lists no Secrets")
	require.Error(t, as.CoreV1().Secrets(ns).Delete(t.Context(), "linstor-satellite-internal-tls-worker-1", metav1.DeleteOptions{}), "gencert deletes nothing")
}
