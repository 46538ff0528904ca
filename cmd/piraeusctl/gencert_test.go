package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

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
