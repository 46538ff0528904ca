package apply

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
)

// ApplySet labels and annotations of KEP-3659, as kubectl writes them.
const (
	LabelApplySetID        = "applyset.kubernetes.io/id"
	LabelPartOf            = "applyset.kubernetes.io/part-of"
	AnnotationTooling      = "applyset.kubernetes.io/tooling"
	AnnotationGroupKinds   = "applyset.kubernetes.io/contains-group-kinds"
	AnnotationAdditionalNS = "applyset.kubernetes.io/additional-namespaces"
)

// Tooling is the value of the tooling annotation on parents piraeusctl owns.
const Tooling = "piraeusctl/v1"

var secretGVK = schema.GroupVersionKind{Version: "v1", Kind: "Secret"}

// ApplySetID computes the ApplySet ID of a parent object exactly as kubectl
// does: base64url(sha256("<name>.<namespace>.<Kind>.<group>")), wrapped in
// "applyset-" and "-v1".
func ApplySetID(name, namespace string, gk schema.GroupKind) string {
	sum := sha256.Sum256([]byte(strings.Join([]string{name, namespace, gk.Kind, gk.Group}, ".")))
	return fmt.Sprintf("applyset-%s-v1", base64.RawURLEncoding.EncodeToString(sum[:]))
}

// applySet is the inventory of one run: a parent Secret whose annotations list
// the group-kinds and namespaces where members live.
type applySet struct {
	name, namespace string
	id              string
	dryRun          DryRun
	manager         string // field manager of the parent's writes
	// current are the group-kinds and namespaces the parent listed before the run.
	currentGKs, currentNS sets.Set[string]
	exists                bool
}

func newApplySet(name, namespace string, dryRun DryRun, manager string) *applySet {
	return &applySet{
		name: name, namespace: namespace, dryRun: dryRun, manager: manager,
		id:         ApplySetID(name, namespace, secretGVK.GroupKind()),
		currentGKs: sets.New[string](), currentNS: sets.New[string](),
	}
}

func (a *applySet) ref() ObjectRef {
	return ObjectRef{Version: "v1", Kind: "Secret", Namespace: a.namespace, Name: a.name}
}

// label marks every object as a member.
func (a *applySet) label(objs []*unstructured.Unstructured) {
	for _, o := range objs {
		labels := o.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		labels[LabelPartOf] = a.id
		o.SetLabels(labels)
	}
}

// desired returns the group-kinds and extra namespaces of objs.
func (a *applySet) desired(objs []*unstructured.Unstructured) (gks, nss sets.Set[string]) {
	gks, nss = sets.New[string](), sets.New[string]()
	for _, o := range objs {
		gks.Insert(o.GroupVersionKind().GroupKind().String())
		if ns := o.GetNamespace(); ns != "" && ns != a.namespace {
			nss.Insert(ns)
		}
	}
	return gks, nss
}

// load reads the parent, refusing one that other tooling owns.
func (a *applySet) load(ctx context.Context, c *cluster) error {
	live, err := c.dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "secrets"}).
		Namespace(a.namespace).Get(ctx, a.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return objectErr(a.ref(), "get ApplySet parent", err)
	}
	a.exists = true
	if id := live.GetLabels()[LabelApplySetID]; id != a.id {
		return &ObjectError{Object: a.ref(), Err: fmt.Errorf("not an ApplySet parent with ID %s (label %s=%q)", a.id, LabelApplySetID, id)}
	}
	ann := live.GetAnnotations()
	if tool := ann[AnnotationTooling]; toolName(tool) != toolName(Tooling) {
		return &ObjectError{Object: a.ref(), Err: fmt.Errorf("ApplySet is managed by tooling %q, not %s", tool, toolName(Tooling))}
	}
	a.currentGKs = splitSet(ann[AnnotationGroupKinds])
	a.currentNS = splitSet(ann[AnnotationAdditionalNS])
	return nil
}

// widen records the union of the old and new members before anything is
// applied, so that a crash never forgets an object.
func (a *applySet) widen(ctx context.Context, c *cluster, objs []*unstructured.Unstructured, _ string) error {
	if err := a.load(ctx, c); err != nil {
		return err
	}
	gks, nss := a.desired(objs)
	return a.write(ctx, c, gks.Union(a.currentGKs), nss.Union(a.currentNS))
}

// narrow records only the new members, after prune succeeded.
func (a *applySet) narrow(ctx context.Context, c *cluster, objs []*unstructured.Unstructured) error {
	gks, nss := a.desired(objs)
	return a.write(ctx, c, gks, nss)
}

// write applies the parent Secret's label and annotations, skipping the
// request when they are already as wanted.
func (a *applySet) write(ctx context.Context, c *cluster, gks, nss sets.Set[string]) error {
	gkList, nsList := joinSet(gks), joinSet(nss)
	if a.exists && gkList == joinSet(a.currentGKs) && nsList == joinSet(a.currentNS) {
		return nil
	}
	if a.dryRun == DryRunClient {
		return nil
	}
	parent := &unstructured.Unstructured{}
	parent.SetGroupVersionKind(secretGVK)
	parent.SetName(a.name)
	parent.SetNamespace(a.namespace)
	parent.SetLabels(map[string]string{LabelApplySetID: a.id})
	parent.SetAnnotations(map[string]string{
		AnnotationTooling:      Tooling,
		AnnotationGroupKinds:   gkList,
		AnnotationAdditionalNS: nsList,
	})
	opts := metav1.ApplyOptions{FieldManager: a.manager, Force: true}
	if a.dryRun == DryRunServer {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	_, err := c.dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "secrets"}).
		Namespace(a.namespace).Apply(ctx, a.name, parent, opts)
	if err != nil {
		if a.dryRun == DryRunServer && isNamespaceNotFound(err) {
			return nil
		}
		return objectErr(a.ref(), "apply ApplySet parent", err)
	}
	a.exists, a.currentGKs, a.currentNS = a.dryRun == DryRunNone, gks, nss
	return nil
}

func toolName(tooling string) string {
	name, _, _ := strings.Cut(tooling, "/")
	return name
}

func splitSet(s string) sets.Set[string] {
	out := sets.New[string]()
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out.Insert(p)
		}
	}
	return out
}

func joinSet(s sets.Set[string]) string {
	l := s.UnsortedList()
	sort.Strings(l)
	return strings.Join(l, ",")
}
