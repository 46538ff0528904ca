// Package apply converges a Kubernetes cluster to a list of rendered objects
// with server-side apply (field manager "piraeusctl"), the way
// fluxcd/pkg/ssa and kubectl apply --server-side --prune --applyset do it.
//
// Run applies in stages (Namespaces and CRDs first, webhook configurations
// last), skips objects that would not change so that a converged cluster
// costs no write, scopes pruning with kubectl's ApplySet labels (KEP-3659) and
// never prunes what its keep rules protect (by default the objects whose
// deletion loses data; callers add their own). Diff shows the live difference
// through a server-side dry run; ReadClusterInputs reads back objects of the
// kinds it is given, as `plan --from-cluster` needs.
//
// The package knows nothing of plan or render: it takes
// []*unstructured.Unstructured.
package apply
