package gencert

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/piraeusctl/piraeusctl/internal/kubetest"
	"github.com/piraeusctl/piraeusctl/render"
)

func satelliteDaemonSet(ns, node, secret string) *appsv1.DaemonSet {
	sel := map[string]string{render.ComponentLabel: render.SatelliteComponent, "piraeus.io/satellite": node}
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "linstor-satellite-" + node, Namespace: ns, Labels: sel,
			Annotations: map[string]string{render.NodeAnnotation: node, render.TLSIssuerAnnotation: render.GencertIssuer}},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: sel},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{Name: "linstor-satellite", Image: "piraeusctl"}},
					Volumes: []corev1.Volume{{Name: render.SatelliteTLSVolume, VolumeSource: corev1.VolumeSource{
						Secret: &corev1.SecretVolumeSource{SecretName: secret}}}},
				},
			},
		},
	}
}

// TestInternalTLSOnAPIServer: on the real API server gencert creates the
// internal CA, the controller's certificate and one certificate per
// satellite DaemonSet (owned by it), leaves a Secret brought by the user
// alone, writes nothing on a pass with nothing to do, and follows a
// recreated DaemonSet.
func TestInternalTLSOnAPIServer(t *testing.T) {
	env := kubetest.Start(t)
	ctx := t.Context()
	client, err := kubernetes.NewForConfig(env.Config(t))
	require.NoError(t, err)
	const ns = "internal-tls"
	_, err = client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	require.NoError(t, err)
	dsA, err := client.AppsV1().DaemonSets(ns).Create(ctx, satelliteDaemonSet(ns, "node-a", "linstor-satellite-internal-tls-node-a"), metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = client.AppsV1().DaemonSets(ns).Create(ctx, satelliteDaemonSet(ns, "node-b", "linstor-satellite-internal-tls-node-b"), metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = client.AppsV1().DaemonSets(ns).Create(ctx, satelliteDaemonSet(ns, "node-c", "my-own-cert"), metav1.CreateOptions{})
	require.NoError(t, err)
	own := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "my-own-cert", Namespace: ns}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{"tls.crt": []byte("mine"), "tls.key": []byte("mine")}}
	_, err = client.CoreV1().Secrets(ns).Create(ctx, own, metav1.CreateOptions{})
	require.NoError(t, err)

	opts := DefaultOptions()
	opts.Namespace = ns
	g, err := New(client, opts)
	require.NoError(t, err)
	res, err := g.Pass(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"linstor-internal-ca", "linstor-controller-internal-tls", "linstor-satellite-internal-tls-node-a", "linstor-satellite-internal-tls-node-b"}, res.InternalWritten)

	get := func(name string) *corev1.Secret {
		s, err := client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		require.NoError(t, err)
		return s
	}
	ca := get("linstor-internal-ca")
	require.Equal(t, corev1.SecretTypeOpaque, ca.Type)
	cas := casOf(t, ca.Data)
	ctl := get("linstor-controller-internal-tls")
	require.Equal(t, corev1.SecretTypeTLS, ctl.Type)
	require.Empty(t, ctl.OwnerReferences)
	require.NoError(t, servingOf(t, ctl.Data).CheckSignatureFrom(cas[0]))
	a := get("linstor-satellite-internal-tls-node-a")
	require.Equal(t, []string{"node-a"}, servingOf(t, a.Data).DNSNames)
	require.Equal(t, ca.Data[KeyCACert], a.Data[KeyCACert])
	require.NotContains(t, a.Data, KeyCAKey)
	require.Len(t, a.OwnerReferences, 1)
	require.Equal(t, dsA.UID, a.OwnerReferences[0].UID, "the satellite's Secret goes with its DaemonSet (garbage collector)")
	require.Equal(t, "node-a", a.Annotations[render.NodeAnnotation])
	require.Equal(t, own.Data, get("my-own-cert").Data, "a Secret brought by the user is left alone")

	res, err = g.Pass(ctx)
	require.NoError(t, err)
	require.Empty(t, res.InternalWritten, "a pass with nothing to do writes nothing")
	require.False(t, res.SecretWritten)

	// The DaemonSet of node-a is recreated (new uid): only the owner moves.
	require.NoError(t, client.AppsV1().DaemonSets(ns).Delete(ctx, dsA.Name, metav1.DeleteOptions{}))
	dsA2, err := client.AppsV1().DaemonSets(ns).Create(ctx, satelliteDaemonSet(ns, "node-a", "linstor-satellite-internal-tls-node-a"), metav1.CreateOptions{})
	require.NoError(t, err)
	res, err = g.Pass(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"linstor-satellite-internal-tls-node-a"}, res.InternalWritten)
	a2 := get("linstor-satellite-internal-tls-node-a")
	require.Equal(t, dsA2.UID, a2.OwnerReferences[0].UID)
	require.Equal(t, a.Data, a2.Data, "the certificate stays")
	require.True(t, res.Next.After(time.Now().Add(24*time.Hour)))
}
