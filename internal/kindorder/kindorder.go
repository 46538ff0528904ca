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

func gk(group, kind string) schema.GroupKind { return schema.GroupKind{Group: group, Kind: kind} }

// stageKinds are the known kinds in plan order, by stage; Custom lists none
// (every kind not listed is custom).
var stageKinds = []struct {
	stage Stage
	kinds []schema.GroupKind
}{
	{NamespacesCRDs, []schema.GroupKind{gk("", "Namespace"), gk("apiextensions.k8s.io", "CustomResourceDefinition")}},
	{ClusterRBAC, []schema.GroupKind{gk(rbac, "ClusterRole"), gk(rbac, "ClusterRoleBinding"), gk("scheduling.k8s.io", "PriorityClass")}},
	{ServiceAccounts, []schema.GroupKind{gk("", "ServiceAccount")}},
	{Roles, []schema.GroupKind{gk(rbac, "Role"), gk(rbac, "RoleBinding")}},
	{Config, []schema.GroupKind{gk("", "ConfigMap"), gk("", "Secret"), gk("", "LimitRange"), gk("", "ResourceQuota"), gk("", "PersistentVolume")}},
	{Services, []schema.GroupKind{gk("", "Service")}},
	{Classes, []schema.GroupKind{gk("storage.k8s.io", "CSIDriver"), gk("storage.k8s.io", "StorageClass"),
		gk("snapshot.storage.k8s.io", "VolumeSnapshotClass"), gk("networking.k8s.io", "IngressClass"), gk("node.k8s.io", "RuntimeClass")}},
	{Workloads, []schema.GroupKind{gk("apps", "Deployment"), gk("apps", "DaemonSet"), gk("apps", "StatefulSet"),
		gk("batch", "Job"), gk("batch", "CronJob"), gk("", "Pod"), gk("policy", "PodDisruptionBudget"),
		gk("", "PersistentVolumeClaim")}}, // claims after their StorageClass
	{Custom, nil},
	{Webhooks, []schema.GroupKind{gk(admission, "ValidatingWebhookConfiguration"), gk(admission, "MutatingWebhookConfiguration")}},
}

const (
	rbac      = "rbac.authorization.k8s.io"
	admission = "admissionregistration.k8s.io"
)

// entry is one kind of the table.
type entry struct {
	gk    schema.GroupKind
	stage Stage
}

// table lists the known kinds in plan order, the empty GroupKind standing
// for every kind not listed; its stages never decrease.
var table = func() []entry {
	var out []entry
	for _, s := range stageKinds {
		if s.stage == Custom {
			out = append(out, entry{stage: Custom})
		}
		for _, k := range s.kinds {
			out = append(out, entry{k, s.stage})
		}
	}
	return out
}()

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
