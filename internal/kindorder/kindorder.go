// Package kindorder is the one order of Kubernetes kinds: the order of the
// objects in a plan and the stages in which apply writes them, so the plan
// people review reads in the order the cluster receives it.
//
// Each kind belongs to a stage, as fluxcd/pkg/ssa and kubectl order them:
// Namespaces and CRDs first, then cluster RBAC, service accounts, roles,
// configuration, Services, classes and drivers, workloads, custom resources
// (and every kind not listed), and webhook configurations last, so that a
// webhook that fails closed never refuses the objects of its own plan.
package kindorder

import (
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Stage is one step of a staged apply: the objects of a stage go together,
// and a stage starts when the one before has succeeded.
type Stage int

// The stages in order.
const (
	NamespacesCRDs Stage = iota // apply waits until the CRDs are established
	ClusterRBAC                 // ClusterRoles, ClusterRoleBindings, PriorityClasses
	ServiceAccounts
	Roles // Roles, RoleBindings
	Config
	Services
	Classes // StorageClass, CSIDriver, IngressClass, RuntimeClass
	Workloads
	Custom // custom resources and every kind not listed
	Webhooks
)

var stageNames = map[Stage]string{
	NamespacesCRDs:  "namespaces and CRDs",
	ClusterRBAC:     "cluster RBAC",
	ServiceAccounts: "service accounts",
	Roles:           "roles",
	Config:          "config maps and secrets",
	Services:        "services",
	Classes:         "classes and drivers",
	Workloads:       "workloads",
	Custom:          "custom resources",
	Webhooks:        "webhook configurations",
}

func (s Stage) String() string { return stageNames[s] }

// entry is one kind of the table.
type entry struct {
	gk    schema.GroupKind
	stage Stage
}

// table lists the known kinds in plan order; its stages never decrease.
var table = []entry{
	{schema.GroupKind{Kind: "Namespace"}, NamespacesCRDs},
	{schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}, NamespacesCRDs},

	{schema.GroupKind{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}, ClusterRBAC},
	{schema.GroupKind{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}, ClusterRBAC},
	{schema.GroupKind{Group: "scheduling.k8s.io", Kind: "PriorityClass"}, ClusterRBAC},

	{schema.GroupKind{Kind: "ServiceAccount"}, ServiceAccounts},

	{schema.GroupKind{Group: "rbac.authorization.k8s.io", Kind: "Role"}, Roles},
	{schema.GroupKind{Group: "rbac.authorization.k8s.io", Kind: "RoleBinding"}, Roles},

	{schema.GroupKind{Kind: "ConfigMap"}, Config},
	{schema.GroupKind{Kind: "Secret"}, Config},
	{schema.GroupKind{Kind: "LimitRange"}, Config},
	{schema.GroupKind{Kind: "ResourceQuota"}, Config},
	{schema.GroupKind{Kind: "PersistentVolume"}, Config},

	{schema.GroupKind{Kind: "Service"}, Services},

	{schema.GroupKind{Group: "storage.k8s.io", Kind: "CSIDriver"}, Classes},
	{schema.GroupKind{Group: "storage.k8s.io", Kind: "StorageClass"}, Classes},
	{schema.GroupKind{Group: "snapshot.storage.k8s.io", Kind: "VolumeSnapshotClass"}, Classes},
	{schema.GroupKind{Group: "networking.k8s.io", Kind: "IngressClass"}, Classes},
	{schema.GroupKind{Group: "node.k8s.io", Kind: "RuntimeClass"}, Classes},

	{schema.GroupKind{Group: "apps", Kind: "Deployment"}, Workloads},
	{schema.GroupKind{Group: "apps", Kind: "DaemonSet"}, Workloads},
	{schema.GroupKind{Group: "apps", Kind: "StatefulSet"}, Workloads},
	{schema.GroupKind{Group: "batch", Kind: "Job"}, Workloads},
	{schema.GroupKind{Group: "batch", Kind: "CronJob"}, Workloads},
	{schema.GroupKind{Kind: "Pod"}, Workloads},
	{schema.GroupKind{Group: "policy", Kind: "PodDisruptionBudget"}, Workloads},
	{schema.GroupKind{Kind: "PersistentVolumeClaim"}, Workloads}, // after its StorageClass

	{schema.GroupKind{}, Custom}, // every kind not listed

	{schema.GroupKind{Group: "admissionregistration.k8s.io", Kind: "ValidatingWebhookConfiguration"}, Webhooks},
	{schema.GroupKind{Group: "admissionregistration.k8s.io", Kind: "MutatingWebhookConfiguration"}, Webhooks},
}

// rankOf maps each listed kind to its position in table.
var rankOf = func() map[schema.GroupKind]int {
	m := make(map[schema.GroupKind]int, len(table))
	for i, e := range table {
		m[e.gk] = i
	}
	return m
}()

// rank is the kind's position in table; kinds not listed share the
// position of the custom-resource entry.
func rank(gk schema.GroupKind) int {
	if r, ok := rankOf[gk]; ok {
		return r
	}
	return rankOf[schema.GroupKind{}]
}

// StageOf returns the stage of a kind.
func StageOf(gk schema.GroupKind) Stage { return table[rank(gk)].stage }

// ObjectStage returns the stage of an object's kind.
func ObjectStage(o *unstructured.Unstructured) Stage {
	return StageOf(o.GroupVersionKind().GroupKind())
}

// Less orders two objects: by kind as the table lists them, kinds not listed
// by kind name and apiVersion, then by namespace and name.
func Less(a, b *unstructured.Unstructured) bool {
	ga, gb := a.GroupVersionKind().GroupKind(), b.GroupVersionKind().GroupKind()
	if ra, rb := rank(ga), rank(gb); ra != rb {
		return ra < rb
	}
	if ka, kb := a.GetKind(), b.GetKind(); ka != kb {
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

// Sort orders objs with Less (stable).
func Sort(objs []*unstructured.Unstructured) {
	sort.SliceStable(objs, func(i, j int) bool { return Less(objs[i], objs[j]) })
}

// Stages groups objs by stage in stage order, keeping their order inside a
// stage. For objects in Sort's order it splits the list without reordering it.
func Stages(objs []*unstructured.Unstructured) [][]*unstructured.Unstructured {
	by := map[Stage][]*unstructured.Unstructured{}
	for _, o := range objs {
		s := ObjectStage(o)
		by[s] = append(by[s], o)
	}
	var out [][]*unstructured.Unstructured
	for s := NamespacesCRDs; s <= Webhooks; s++ {
		if len(by[s]) > 0 {
			out = append(out, by[s])
		}
	}
	return out
}
