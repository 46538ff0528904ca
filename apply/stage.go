package apply

import (
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// stage is one step of a staged apply; objects of a stage are applied
// together, and a stage starts only when the one before succeeded.
type stage int

// The stages in order, as fluxcd/pkg/ssa and kubectl's apply order them.
const (
	stageNamespacesCRDs stage = iota // then wait until CRDs are established
	stageClusterRBAC                 // ClusterRoles, ClusterRoleBindings, PriorityClasses
	stageServiceAccounts
	stageRoles // Roles, RoleBindings
	stageConfig
	stageServices
	stageClasses // StorageClass, CSIDriver, IngressClass, RuntimeClass
	stageWorkloads
	stageCustom // custom resources and everything else
	stageWebhooks
)

var stageNames = map[stage]string{
	stageNamespacesCRDs:  "namespaces and CRDs",
	stageClusterRBAC:     "cluster RBAC",
	stageServiceAccounts: "service accounts",
	stageRoles:           "roles",
	stageConfig:          "config maps and secrets",
	stageServices:        "services",
	stageClasses:         "classes and drivers",
	stageWorkloads:       "workloads",
	stageCustom:          "custom resources",
	stageWebhooks:        "webhook configurations",
}

func (s stage) String() string { return stageNames[s] }

var stageOfKind = map[schema.GroupKind]stage{
	{Kind: "Namespace"}: stageNamespacesCRDs,
	{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}: stageNamespacesCRDs,

	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}:        stageClusterRBAC,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}: stageClusterRBAC,
	{Group: "scheduling.k8s.io", Kind: "PriorityClass"}:              stageClusterRBAC,

	{Kind: "ServiceAccount"}: stageServiceAccounts,

	{Group: "rbac.authorization.k8s.io", Kind: "Role"}:        stageRoles,
	{Group: "rbac.authorization.k8s.io", Kind: "RoleBinding"}: stageRoles,

	{Kind: "ConfigMap"}:             stageConfig,
	{Kind: "Secret"}:                stageConfig,
	{Kind: "LimitRange"}:            stageConfig,
	{Kind: "ResourceQuota"}:         stageConfig,
	{Kind: "PersistentVolume"}:      stageConfig,
	{Kind: "PersistentVolumeClaim"}: stageWorkloads, // after its StorageClass

	{Kind: "Service"}: stageServices,

	{Group: "storage.k8s.io", Kind: "StorageClass"}:                 stageClasses,
	{Group: "storage.k8s.io", Kind: "CSIDriver"}:                    stageClasses,
	{Group: "snapshot.storage.k8s.io", Kind: "VolumeSnapshotClass"}: stageClasses,
	{Group: "networking.k8s.io", Kind: "IngressClass"}:              stageClasses,
	{Group: "node.k8s.io", Kind: "RuntimeClass"}:                    stageClasses,

	{Group: "apps", Kind: "Deployment"}:            stageWorkloads,
	{Group: "apps", Kind: "DaemonSet"}:             stageWorkloads,
	{Group: "apps", Kind: "StatefulSet"}:           stageWorkloads,
	{Group: "batch", Kind: "Job"}:                  stageWorkloads,
	{Group: "batch", Kind: "CronJob"}:              stageWorkloads,
	{Kind: "Pod"}:                                  stageWorkloads,
	{Group: "policy", Kind: "PodDisruptionBudget"}: stageWorkloads,

	{Group: "admissionregistration.k8s.io", Kind: "ValidatingWebhookConfiguration"}: stageWebhooks,
	{Group: "admissionregistration.k8s.io", Kind: "MutatingWebhookConfiguration"}:   stageWebhooks,
}

func stageOf(obj *unstructured.Unstructured) stage {
	if s, ok := stageOfKind[obj.GroupVersionKind().GroupKind()]; ok {
		return s
	}
	return stageCustom
}

// stages groups objects by stage, keeping the input order inside a stage.
func stages(objs []*unstructured.Unstructured) [][]*unstructured.Unstructured {
	by := map[stage][]*unstructured.Unstructured{}
	for _, o := range objs {
		s := stageOf(o)
		by[s] = append(by[s], o)
	}
	keys := make([]int, 0, len(by))
	for s := range by {
		keys = append(keys, int(s))
	}
	sort.Ints(keys)
	out := make([][]*unstructured.Unstructured, 0, len(keys))
	for _, k := range keys {
		out = append(out, by[stage(k)])
	}
	return out
}
