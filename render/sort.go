package render

import (
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// kindOrder is the apply order of kinds; kinds not listed go between
// DaemonSet and ValidatingWebhookConfiguration.
var kindOrder = func() map[string]int {
	kinds := []string{
		"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding",
		"ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Secret", "Service",
		"CSIDriver", "StorageClass", "VolumeSnapshotClass", "Deployment", "DaemonSet",
		"", // everything else
		"ValidatingWebhookConfiguration", "StorageTopology", "StorageVolume",
	}
	m := make(map[string]int, len(kinds))
	for i, k := range kinds {
		m[k] = i
	}
	return m
}()

func kindRank(kind string) int {
	if r, ok := kindOrder[kind]; ok {
		return r
	}
	return kindOrder[""]
}

// sortObjects orders objects by kind rank, then (for other kinds) by kind
// and apiVersion, then by namespace and name.
func sortObjects(objs []*unstructured.Unstructured) {
	sort.SliceStable(objs, func(i, j int) bool { return objectLess(objs[i], objs[j]) })
}

func objectLess(a, b *unstructured.Unstructured) bool {
	ka, kb := a.GetKind(), b.GetKind()
	if ra, rb := kindRank(ka), kindRank(kb); ra != rb {
		return ra < rb
	}
	if ka != kb {
		return ka < kb
	}
	if va, vb := a.GetAPIVersion(), b.GetAPIVersion(); va != vb {
		return va < vb
	}
	if na, nb := a.GetNamespace(), b.GetNamespace(); na != nb {
		return na < nb
	}
	return a.GetName() < b.GetName()
}
