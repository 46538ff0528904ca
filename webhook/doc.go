// Package webhook is the operator's admission boundary: the validating
// webhook server that `piraeusctl operator` runs. The API server trusts it
// through the certificates package gencert keeps; the server serves with
// whatever certificate the Secret holds (mounted as files, reloaded when
// they change), so a CA rotation by gencert fails no admission request.
//
// The server decides nothing itself: it decodes AdmissionReview requests and
// asks package plan (ValidateObject, ValidateUpdateLive), so a denial has the
// same field path and message that `piraeusctl plan` prints. An admitted
// object with spec.patches is planned (package pipeline) with the cluster's
// nodes, and plan's warnings about it (a target that matches nothing) come
// back as admission warnings with the same text.
package webhook
