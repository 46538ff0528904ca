package gencert

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/piraeusctl/piraeusctl/render"
)

// InternalOptions say which Secrets of the internal TLS (controller ↔
// agents) gencert keeps.
type InternalOptions struct {
	// Enabled keeps the internal CA and the certificates it signs.
	Enabled bool
	// CASecretName is the Opaque Secret holding the CA bundle (ca.crt) and
	// the signing CA's key (ca.key). No Pod mounts it.
	CASecretName string
	// ControllerSecretName is the controller's client certificate; empty
	// when the user or cert-manager provides it.
	ControllerSecretName string
	// SatelliteSelector selects the satellite DaemonSets in the namespace;
	// each names its node (annotation storage.piraeus.io/node) and mounts
	// its Secret as the volume internal-tls. Only those annotated
	// storage.piraeus.io/internal-tls-issuer=piraeus-operator-gencert are
	// gencert's: the others' Secrets come from the user or cert-manager.
	SatelliteSelector string
}

// DefaultInternalOptions returns the names the plan renders.
func DefaultInternalOptions() InternalOptions {
	return InternalOptions{
		Enabled:              true,
		CASecretName:         "linstor-internal-ca",
		ControllerSecretName: render.ControllerInternalTLSSecret,
		SatelliteSelector:    render.ComponentLabel + "=" + render.SatelliteComponent,
	}
}

// Validate checks the names when internal TLS is enabled.
func (o *InternalOptions) Validate() error {
	if !o.Enabled {
		return nil
	}
	if o.CASecretName == "" {
		return errors.New("--internal-ca-secret is required with --internal-tls")
	}
	if o.CASecretName == o.ControllerSecretName {
		return fmt.Errorf("--internal-ca-secret and --internal-controller-secret must differ (both %q): the CA key must not reach the controller", o.CASecretName)
	}
	if _, err := labels.Parse(o.SatelliteSelector); err != nil {
		return fmt.Errorf("--satellite-selector %q: %w", o.SatelliteSelector, err)
	}
	return nil
}

// satellite is one satellite DaemonSet: its node and the Secret it mounts.
type satellite struct {
	node   string
	secret string
	owner  metav1.OwnerReference
}

// satelliteOf reads a satellite DaemonSet; ok is false when it names no
// node, mounts no internal TLS Secret or its Secret is not gencert's.
func satelliteOf(ds *appsv1.DaemonSet) (satellite, bool) {
	if ds.Annotations[render.TLSIssuerAnnotation] != render.GencertIssuer {
		return satellite{}, false
	}
	node := ds.Annotations[render.NodeAnnotation]
	var secret string
	for _, v := range ds.Spec.Template.Spec.Volumes {
		if v.Name == render.SatelliteTLSVolume && v.Secret != nil {
			secret = v.Secret.SecretName
		}
	}
	if node == "" || secret == "" {
		return satellite{}, false
	}
	return satellite{node: node, secret: secret, owner: metav1.OwnerReference{
		APIVersion: "apps/v1", Kind: "DaemonSet", Name: ds.Name, UID: ds.UID,
	}}, true
}

// satellites lists the satellite DaemonSets, sorted by node, one per Secret.
func (g *Gencert) satellites(ctx context.Context) ([]satellite, error) {
	list, err := g.client.AppsV1().DaemonSets(g.opts.Namespace).List(ctx, metav1.ListOptions{LabelSelector: g.opts.Internal.SatelliteSelector})
	if err != nil {
		return nil, fmt.Errorf("list satellite daemonsets in %s: %w", g.opts.Namespace, err)
	}
	var out []satellite
	seen := map[string]bool{}
	for i := range list.Items {
		ds := &list.Items[i]
		sat, ok := satelliteOf(ds)
		switch {
		case !ok:
			g.opts.Logger.Debug("satellite daemonset's internal TLS is not gencert's; skipped", "daemonset", ds.Name)
		case seen[sat.secret] || sat.secret == g.opts.Internal.ControllerSecretName || sat.secret == g.opts.Internal.CASecretName:
			g.opts.Logger.Warn("satellite daemonset mounts a Secret another certificate uses; skipped", "daemonset", ds.Name, "secret", sat.secret)
		default:
			seen[sat.secret] = true
			out = append(out, sat)
		}
	}
	slices.SortFunc(out, func(a, b satellite) int { return strings.Compare(a.node, b.node) })
	return out, nil
}

// passInternal keeps the internal CA, the controller's client certificate
// and one serving certificate per satellite. Each satellite's Secret is
// owned by its DaemonSet, so the garbage collector removes it when the
// satellite is gone and never before; gencert deletes nothing. A Secret
// that exists without gencert's label was brought by the user and is left
// alone (and not counted in a CA rotation).
func (g *Gencert) passInternal(ctx context.Context) ([]string, time.Time, error) {
	in := g.opts.Internal
	sats, err := g.satellites(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	caSecret, err := g.getSecret(ctx, in.CASecretName, corev1.SecretTypeOpaque)
	if err != nil {
		return nil, time.Time{}, err
	}
	if caSecret != nil && !managed(caSecret) {
		return nil, time.Time{}, fmt.Errorf("secret %s/%s exists without label %s=%s: gencert keeps only its own CA; remove it or disable --internal-tls", g.opts.Namespace, in.CASecretName, ManagedByLabel, FieldManager)
	}
	type target struct {
		live, want *corev1.Secret
	}
	var leaves []leafSecret
	var targets []target
	add := func(name string, prof profile, owner *metav1.OwnerReference, node string) error {
		live, err := g.getSecret(ctx, name, corev1.SecretTypeTLS)
		if err != nil {
			return err
		}
		if live != nil && !managed(live) {
			g.opts.Logger.Debug("internal TLS Secret brought by the user; left alone", "secret", g.opts.Namespace+"/"+name)
			return nil
		}
		want := g.newSecret(name, corev1.SecretTypeTLS)
		if owner != nil {
			want.OwnerReferences = []metav1.OwnerReference{*owner}
			want.Annotations = map[string]string{render.NodeAnnotation: node}
		}
		leaves = append(leaves, leafSecret{name: name, prof: prof, data: dataOf(live)})
		targets = append(targets, target{live: live, want: want})
		return nil
	}
	if in.ControllerSecretName != "" {
		if err := add(in.ControllerSecretName, controllerProfile(), nil, ""); err != nil {
			return nil, time.Time{}, err
		}
	}
	for _, s := range sats {
		if err := add(s.secret, satelliteProfile(s.node), &s.owner, s.node); err != nil {
			return nil, time.Time{}, err
		}
	}
	r, err := rotateInternal(g.opts.Now(), dataOf(caSecret), leaves, g.opts.Policy)
	if err != nil {
		return nil, time.Time{}, err
	}
	// The CA first: a pass that fails after it never leaves certificates
	// signed by a CA whose key was not kept.
	var written []string
	if r.ca.changed(dataOf(caSecret)) {
		if err := g.writeSecret(ctx, caSecret, g.newSecret(in.CASecretName, corev1.SecretTypeOpaque), r.ca); err != nil {
			return written, time.Time{}, err
		}
		written = append(written, in.CASecretName)
	}
	for i, t := range targets {
		if !r.leaves[i].changed(dataOf(t.live)) && !metaDiffers(t.live, t.want) {
			continue
		}
		if err := g.writeSecret(ctx, t.live, t.want, r.leaves[i]); err != nil {
			return written, time.Time{}, err
		}
		written = append(written, t.want.Name)
	}
	return written, r.next, nil
}

func dataOf(s *corev1.Secret) map[string][]byte {
	if s == nil {
		return nil
	}
	return s.Data
}

func managed(s *corev1.Secret) bool {
	return s.Labels[ManagedByLabel] == FieldManager
}

// metaDiffers reports whether live lacks want's labels, annotations or
// owners.
func metaDiffers(live, want *corev1.Secret) bool {
	if live == nil {
		return true
	}
	merged := live.ObjectMeta.DeepCopy()
	mergeMeta(merged, &want.ObjectMeta)
	return !equality.Semantic.DeepEqual(merged, &live.ObjectMeta)
}

// mergeMeta sets want's labels and annotations on meta, and makes want's
// owners the only owners of their kind (a recreated DaemonSet has a new uid).
func mergeMeta(meta, want *metav1.ObjectMeta) {
	if len(want.Labels) > 0 {
		if meta.Labels == nil {
			meta.Labels = map[string]string{}
		}
		maps.Copy(meta.Labels, want.Labels)
	}
	if len(want.Annotations) > 0 {
		if meta.Annotations == nil {
			meta.Annotations = map[string]string{}
		}
		maps.Copy(meta.Annotations, want.Annotations)
	}
	for _, o := range want.OwnerReferences {
		meta.OwnerReferences = slices.DeleteFunc(meta.OwnerReferences, func(x metav1.OwnerReference) bool {
			return x.APIVersion == o.APIVersion && x.Kind == o.Kind
		})
		meta.OwnerReferences = append(meta.OwnerReferences, o)
	}
}
