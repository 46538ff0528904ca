package apply

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Action is what happened to one object.
type Action string

// Per-object outcomes.
const (
	Created    Action = "created"
	Configured Action = "configured"
	Unchanged  Action = "unchanged"
	Pruned     Action = "pruned"
	Kept       Action = "kept" // left the plan but holds data: never pruned
	Failed     Action = "failed"
	Skipped    Action = "skipped"
)

// ObjectRef names an object the way errors and progress lines do.
type ObjectRef struct {
	Group     string `json:"group,omitempty"`
	Version   string `json:"version"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// RefOf returns the reference of obj.
func RefOf(obj *unstructured.Unstructured) ObjectRef {
	gvk := obj.GroupVersionKind()
	return ObjectRef{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind, Namespace: obj.GetNamespace(), Name: obj.GetName()}
}

// String is Kind/namespace/name (Kind/name for cluster-scoped objects), as
// fluxcd/pkg/ssa prints it.
func (r ObjectRef) String() string {
	if r.Namespace == "" {
		return r.Kind + "/" + r.Name
	}
	return r.Kind + "/" + r.Namespace + "/" + r.Name
}

// GroupKind returns the object's group and kind.
func (r ObjectRef) GroupKind() schema.GroupKind {
	return schema.GroupKind{Group: r.Group, Kind: r.Kind}
}

// Change is the outcome for one object.
type Change struct {
	Object ObjectRef `json:"object"`
	Action Action    `json:"action"`
	// Message explains a failure, a skip or why an object was kept.
	Message string `json:"message,omitempty"`
	// Fields are the paths (e.g. spec.template.spec.containers) where a
	// configured object differed from the plan, as the server merged it.
	Fields []string `json:"fields,omitempty"`
}

// String is the progress line: "Deployment/ns/name configured (dry run)".
func (c Change) String() string {
	s := c.Object.String() + " " + string(c.Action)
	if c.Message != "" {
		s += ": " + c.Message
	}
	return s
}

// Result is what Run did; it is JSON-able for `apply -o json`.
type Result struct {
	DryRun  DryRun         `json:"dryRun"`
	Changes []Change       `json:"changes"`
	Summary map[Action]int `json:"summary"`
	// ApplySet is the ApplySet ID when pruning was requested.
	ApplySet string `json:"applySet,omitempty"`
}

func (r *Result) add(c Change) {
	r.Changes = append(r.Changes, c)
	if r.Summary == nil {
		r.Summary = map[Action]int{}
	}
	r.Summary[c.Action]++
}

// Failed returns the changes that failed.
func (r *Result) Failed() []Change {
	var out []Change
	for _, c := range r.Changes {
		if c.Action == Failed {
			out = append(out, c)
		}
	}
	return out
}

// SummaryLine is e.g. "12 objects: 3 created, 1 configured, 8 unchanged".
func (r *Result) SummaryLine() string {
	order := []Action{Created, Configured, Unchanged, Pruned, Kept, Skipped, Failed}
	parts := make([]string, 0, len(order))
	total := 0
	for _, a := range order {
		if n := r.Summary[a]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, a))
			total += n
		}
	}
	line := fmt.Sprintf("%d objects", total)
	if len(parts) > 0 {
		line += ": " + strings.Join(parts, ", ")
	}
	if r.DryRun == DryRunClient || r.DryRun == DryRunServer {
		line += fmt.Sprintf(" (dry run: %s)", r.DryRun)
	}
	return line
}

// WriteText prints every change, sorted as applied, and the summary line.
func (r *Result) WriteText(w io.Writer) error {
	for _, c := range r.Changes {
		if _, err := fmt.Fprintln(w, c.String()); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintln(w, r.SummaryLine())
	return err
}

// sortChanges orders changes by stage-independent name, for stable output of
// concurrent work inside one stage.
func sortChanges(cs []Change) {
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].Object.String() < cs[j].Object.String() })
}

func sortStrings(s []string) { sort.Strings(s) }
