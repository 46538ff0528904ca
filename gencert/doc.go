// Package gencert is piraeus-operator-gencert: it keeps the validating
// webhook's certificates without cert-manager. A kubernetes.io/tls Secret
// holds a private CA and a serving certificate for the webhook Service's
// DNS names; the CA bundle goes into the caBundle of every webhook of the
// ValidatingWebhookConfiguration (server-side apply, field manager
// piraeusctl-gencert). The webhook server (package webhook) serves with
// whatever certificate the Secret holds; the two meet only there.
//
// Each pass is a pure decision (rotate: the Secret, the published bundle
// and the clock in, the changes out, table-tested with a fake clock)
// followed by writing only what changed, so a pass with nothing to do
// writes nothing. A CA rotation goes in three passes, each visible in the
// cluster and a grace period apart: the new CA joins the bundle next to
// the old one, the serving certificate is reissued by the new CA, the old
// CA leaves the bundle. No admission request fails on the way.
package gencert
