package render

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/validation/path"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/piraeusctl/piraeusctl/planfile"
)

// nameRules are the metadata.name rules of the kinds that differ from the
// usual DNS-1123 subdomain; kinds this package does not know are checked
// only as path segments, which every name must be.
var nameRules = map[string]func(string) []string{
	"Namespace":          validation.IsDNS1123Label,
	"Service":            validation.IsDNS1035Label,
	"Role":               path.IsValidPathSegmentName,
	"ClusterRole":        path.IsValidPathSegmentName,
	"RoleBinding":        path.IsValidPathSegmentName,
	"ClusterRoleBinding": path.IsValidPathSegmentName,
}

// subdomainKinds are the other kinds whose names are DNS-1123 subdomains.
var subdomainKinds = []string{
	"ConfigMap", "CSIDriver", "CustomResourceDefinition", "DaemonSet", "Deployment",
	"PriorityClass", "Secret", "ServiceAccount", "StorageClass", "StorageTopology",
	"ValidatingWebhookConfiguration", "VolumeSnapshotClass",
}

// checkNames refuses a plan holding a name, namespace or label the API
// server would reject: every name the plan derives from user input (a node
// name in a DaemonSet's, a namespace, the cluster's name in labels) is
// checked once more here, whatever template made it.
func checkNames(objs []*unstructured.Unstructured) error {
	var problems []string
	for _, o := range objs {
		for _, msg := range nameProblems(o) {
			problems = append(problems, planfile.ObjectID(o)+": "+msg)
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("render: invalid names in the plan:\n%s", strings.Join(problems, "\n"))
	}
	return nil
}

func nameProblems(o *unstructured.Unstructured) []string {
	var out []string
	rule, ok := nameRules[o.GetKind()]
	if !ok {
		rule = path.IsValidPathSegmentName
		if slices.Contains(subdomainKinds, o.GetKind()) {
			rule = validation.IsDNS1123Subdomain
		}
	}
	if msgs := rule(o.GetName()); len(msgs) > 0 {
		out = append(out, fmt.Sprintf("metadata.name %q: %s", o.GetName(), strings.Join(msgs, "; ")))
	}
	if ns := o.GetNamespace(); ns != "" {
		if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
			out = append(out, fmt.Sprintf("metadata.namespace %q: %s", ns, strings.Join(msgs, "; ")))
		}
	}
	labels := o.GetLabels()
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		v := labels[k]
		msgs := append(validation.IsQualifiedName(k), validation.IsValidLabelValue(v)...)
		if len(msgs) > 0 {
			out = append(out, fmt.Sprintf("metadata.labels[%s] = %q: %s", k, v, strings.Join(msgs, "; ")))
		}
	}
	return out
}
