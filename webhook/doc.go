// Package webhook is the operator's admission boundary: the validating
// webhook server that `piraeusctl operator` runs, and the certificate
// management (`piraeusctl gencert`) that makes the API server trust it.
//
// Both halves meet at one Secret and one ValidatingWebhookConfiguration:
// gencert keeps a private CA and a serving certificate in the Secret and the
// CA bundle in the webhook configuration; the server serves with whatever
// certificate the Secret holds (mounted as files, reloaded when they change).
// A CA rotation therefore goes in three passes, each visible in the cluster:
// the new CA joins the bundle next to the old one, then (after a grace
// period) the serving certificate is reissued by the new CA, then (after
// another grace period) the old CA leaves the bundle. No admission request
// fails on the way.
//
// The server decides nothing itself: it decodes AdmissionReview requests and
// asks package plan (ValidateObject, ValidateUpdateLive), so a denial has the
// same field path and message that `piraeusctl plan` prints. An admitted
// object with spec.patches is planned (package pipeline) with the cluster's
// nodes, and plan's warnings about it (a target that matches nothing) come
// back as admission warnings with the same text.
package webhook
