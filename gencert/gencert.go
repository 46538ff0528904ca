package gencert

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	admissionv1ac "k8s.io/client-go/applyconfigurations/admissionregistration/v1"
	"k8s.io/client-go/kubernetes"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
)

// FieldManager owns the caBundle fields gencert writes with server-side
// apply, and is the managed-by label of the Secrets gencert creates.
const FieldManager = "piraeusctl-gencert"

// ManagedByLabel marks the Secrets gencert keeps; it updates no internal
// TLS Secret without it (a certificate brought by the user stays theirs).
const ManagedByLabel = "app.kubernetes.io/managed-by"

// Options say which Secret and webhook configuration gencert keeps.
type Options struct {
	// Namespace of the Secret and the webhook Service.
	Namespace string
	// SecretName is the kubernetes.io/tls Secret holding CA and serving certificate.
	SecretName string
	// WebhookConfigName is the ValidatingWebhookConfiguration whose caBundle is kept.
	WebhookConfigName string
	// ServiceName is the webhook Service; its DNS names are the certificate's SANs.
	ServiceName string
	// ExtraSANs are more DNS names or IP addresses for the serving certificate.
	ExtraSANs []string
	// Policy is how long certificates live and when they are renewed.
	Policy Policy
	// Internal is the internal TLS between the controller and the agents.
	Internal InternalOptions
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Logger receives one line per change; never key material.
	Logger *slog.Logger
}

// DefaultOptions returns the names the plan renders.
func DefaultOptions() Options {
	return Options{
		Namespace:         "piraeus-datastore",
		SecretName:        "webhook-server-cert",
		WebhookConfigName: "piraeus-operator-validating-webhook-configuration",
		ServiceName:       "piraeus-operator-webhook-service",
		Policy:            DefaultPolicy(),
		Internal:          DefaultInternalOptions(),
	}
}

// Validate checks that every name is set and the policy is sound.
func (o *Options) Validate() error {
	for flag, v := range map[string]string{"--namespace": o.Namespace, "--secret-name": o.SecretName, "--webhook-config-name": o.WebhookConfigName, "--webhook-service-name": o.ServiceName} {
		if v == "" {
			return fmt.Errorf("%s is required", flag)
		}
	}
	if err := o.Internal.Validate(); err != nil {
		return err
	}
	return o.Policy.Validate()
}

// Gencert keeps the Secret and the caBundle current, one pass at a time.
type Gencert struct {
	opts   Options
	client kubernetes.Interface
}

// NewGencert returns a Gencert that talks to the API server through client.
func New(client kubernetes.Interface, opts Options) (*Gencert, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Gencert{opts: opts, client: client}, nil
}

// PassResult says what a pass did.
type PassResult struct {
	// Changes lists what changed in the Secret, in words.
	Changes []string
	// SecretWritten and BundleWritten say which objects were written.
	SecretWritten, BundleWritten bool
	// InternalWritten lists the internal TLS Secrets written.
	InternalWritten []string
	// Next is when the next pass has something to do.
	Next time.Time
}

// Pass keeps the webhook's Secret and caBundle and, when enabled, the
// internal TLS current, writing only what changed: a pass with nothing to
// do writes nothing.
func (g *Gencert) Pass(ctx context.Context) (*PassResult, error) {
	res, err := g.passWebhook(ctx)
	if err != nil {
		return nil, err
	}
	if !g.opts.Internal.Enabled {
		return res, nil
	}
	written, next, err := g.passInternal(ctx)
	if err != nil {
		return nil, err
	}
	res.InternalWritten = written
	if next.Before(res.Next) {
		res.Next = next
	}
	return res, nil
}

// passWebhook reads the webhook's Secret and configuration, renews what is
// due and writes what changed.
func (g *Gencert) passWebhook(ctx context.Context) (*PassResult, error) {
	secret, err := g.getSecret(ctx, g.opts.SecretName, corev1.SecretTypeTLS)
	if err != nil {
		return nil, err
	}
	config, err := g.getWebhookConfig(ctx)
	if err != nil {
		return nil, err
	}
	var current map[string][]byte
	if secret != nil {
		current = secret.Data
	}
	names := ServiceSANs(g.opts.ServiceName, g.opts.Namespace, g.opts.ExtraSANs)
	r, err := rotate(g.opts.Now(), current, names, publishedIn(config), g.opts.Policy)
	if err != nil {
		return nil, fmt.Errorf("secret %s/%s: %w", g.opts.Namespace, g.opts.SecretName, err)
	}
	res := &PassResult{Changes: r.changes, Next: r.next}
	if r.changed(current) {
		if err := g.writeSecret(ctx, secret, g.newSecret(g.opts.SecretName, corev1.SecretTypeTLS), r); err != nil {
			return nil, err
		}
		res.SecretWritten = true
	}
	if config != nil && !bundleCurrent(config, r.data[KeyCACert]) {
		if err := g.applyBundle(ctx, config, r.data[KeyCACert]); err != nil {
			return nil, err
		}
		res.BundleWritten = true
		g.opts.Logger.Info("caBundle updated", "validatingwebhookconfiguration", config.Name, "webhooks", len(config.Webhooks))
	}
	return res, nil
}

// getSecret returns the Secret, nil when it does not exist; a Secret of
// another type is an error.
func (g *Gencert) getSecret(ctx context.Context, name string, typ corev1.SecretType) (*corev1.Secret, error) {
	s, err := g.client.CoreV1().Secrets(g.opts.Namespace).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("get secret %s/%s: %w", g.opts.Namespace, name, err)
	case s.Type != typ:
		return nil, fmt.Errorf("secret %s/%s has type %s, expected %s; delete it and gencert creates it again", g.opts.Namespace, name, s.Type, typ)
	}
	return s, nil
}

func (g *Gencert) getWebhookConfig(ctx context.Context) (*admissionregistrationv1.ValidatingWebhookConfiguration, error) {
	c, err := g.client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, g.opts.WebhookConfigName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		g.opts.Logger.Info("webhook configuration not found yet; its caBundle is set once it exists", "validatingwebhookconfiguration", g.opts.WebhookConfigName)
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("get validatingwebhookconfiguration %s: %w", g.opts.WebhookConfigName, err)
	}
	return c, nil
}

// newSecret is a Secret gencert creates: labelled as gencert's.
func (g *Gencert) newSecret(name string, typ corev1.SecretType) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: g.opts.Namespace, Labels: map[string]string{
			ManagedByLabel: FieldManager,
		}},
		Type: typ,
	}
}

// writeSecret creates want with r's data when live is nil, or updates live
// with r's data and want's labels, annotations and owners (optimistic
// concurrency: a concurrent writer makes this pass fail and the next one
// start over). Each change is logged.
func (g *Gencert) writeSecret(ctx context.Context, live, want *corev1.Secret, r *rotation) error {
	secrets := g.client.CoreV1().Secrets(g.opts.Namespace)
	if live == nil {
		s := want.DeepCopy()
		s.Data = r.data
		if _, err := secrets.Create(ctx, s, metav1.CreateOptions{FieldManager: FieldManager}); err != nil {
			return fmt.Errorf("create secret %s/%s: %w", g.opts.Namespace, want.Name, err)
		}
	} else {
		s := live.DeepCopy()
		s.Data = r.data
		mergeMeta(&s.ObjectMeta, &want.ObjectMeta)
		if _, err := secrets.Update(ctx, s, metav1.UpdateOptions{FieldManager: FieldManager}); err != nil {
			return fmt.Errorf("update secret %s/%s: %w", g.opts.Namespace, want.Name, err)
		}
	}
	for _, c := range r.changes {
		g.opts.Logger.Info("certificate change", "secret", g.opts.Namespace+"/"+want.Name, "change", c)
	}
	return nil
}

// applyBundle sets caBundle on every webhook of the configuration with
// server-side apply; gencert owns no other field.
func (g *Gencert) applyBundle(ctx context.Context, config *admissionregistrationv1.ValidatingWebhookConfiguration, bundle []byte) error {
	ac := admissionv1ac.ValidatingWebhookConfiguration(config.Name)
	for _, w := range config.Webhooks {
		ac.WithWebhooks(admissionv1ac.ValidatingWebhook().
			WithName(w.Name).
			WithClientConfig(admissionv1ac.WebhookClientConfig().WithCABundle(bundle...)))
	}
	_, err := g.client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Apply(ctx, ac, metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
	if err != nil {
		return fmt.Errorf("apply caBundle to validatingwebhookconfiguration %s: %w", config.Name, err)
	}
	return nil
}

// bundleCurrent reports whether every webhook carries exactly bundle.
func bundleCurrent(config *admissionregistrationv1.ValidatingWebhookConfiguration, bundle []byte) bool {
	for _, w := range config.Webhooks {
		if !bytes.Equal(w.ClientConfig.CABundle, bundle) {
			return false
		}
	}
	return true
}

// publishedIn returns whether every webhook of config trusts a CA. Without
// a configuration nobody calls the webhook, so every CA counts as published.
func publishedIn(config *admissionregistrationv1.ValidatingWebhookConfiguration) func(*x509.Certificate) bool {
	return func(ca *x509.Certificate) bool {
		if config == nil {
			return true
		}
		for _, w := range config.Webhooks {
			if !bundleHas(w.ClientConfig.CABundle, ca) {
				return false
			}
		}
		return true
	}
}

func bundleHas(bundle []byte, ca *x509.Certificate) bool {
	certs, err := ParseCerts(bundle)
	if err != nil {
		return false
	}
	for _, c := range certs {
		if c.Equal(ca) {
			return true
		}
	}
	return false
}

// errNotLeader ends the loop when leadership is lost, so that the Pod
// restarts and campaigns again rather than writing without the lease.
var errNotLeader = errors.New("lost the gencert lease")
