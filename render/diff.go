package render

import (
	"fmt"
	"io"
	"strings"

	"github.com/sergi/go-diff/diffmatchpatch"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Diff actions.
const (
	DiffAdded   = "added"
	DiffRemoved = "removed"
	DiffChanged = "changed"
)

// diffContext is the number of unchanged lines around each change.
const diffContext = 3

// ObjectDiff is the difference of one object between two plans.
type ObjectDiff struct {
	// ID names the object: group/version/Kind/namespace/name.
	ID string
	// Action is added, removed or changed.
	Action string
	// Unified is the unified diff of the object's YAML, headed
	// "--- old/<ID>" / "+++ new/<ID>" (/dev/null for a missing side).
	Unified string
}

// Diff compares two plans object by object. Only objects that differ are
// returned: changed and added ones in the new plan's order, then removed
// ones in the old plan's order. An empty result means the plans are equal.
func Diff(old, new *Plan) ([]ObjectDiff, error) {
	oldByID := make(map[string]*unstructured.Unstructured, len(old.Objects))
	for _, o := range old.Objects {
		oldByID[ObjectID(o)] = o
	}
	var out []ObjectDiff
	seen := make(map[string]bool, len(new.Objects))
	for _, n := range new.Objects {
		id := ObjectID(n)
		seen[id] = true
		d, err := diffObject(id, oldByID[id], n)
		if err != nil {
			return nil, err
		}
		if d != nil {
			out = append(out, *d)
		}
	}
	for _, o := range old.Objects {
		id := ObjectID(o)
		if seen[id] {
			continue
		}
		d, err := diffObject(id, o, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, *d)
	}
	return out, nil
}

func diffObject(id string, old, new *unstructured.Unstructured) (*ObjectDiff, error) {
	a, err := objectText(old)
	if err != nil {
		return nil, fmt.Errorf("diff %s: %w", id, err)
	}
	b, err := objectText(new)
	if err != nil {
		return nil, fmt.Errorf("diff %s: %w", id, err)
	}
	if a == b && old != nil && new != nil {
		return nil, nil
	}
	d := &ObjectDiff{ID: id, Action: DiffChanged}
	from, to := "old/"+id, "new/"+id
	switch {
	case old == nil:
		d.Action, from = DiffAdded, "/dev/null"
	case new == nil:
		d.Action, to = DiffRemoved, "/dev/null"
	}
	d.Unified = unifiedDiff(from, to, a, b)
	return d, nil
}

func objectText(o *unstructured.Unstructured) (string, error) {
	if o == nil {
		return "", nil
	}
	data, err := ObjectYAML(o)
	return string(data), err
}

// WriteDiffs writes the diffs one after the other.
func WriteDiffs(w io.Writer, diffs []ObjectDiff) error {
	for _, d := range diffs {
		if _, err := io.WriteString(w, d.Unified); err != nil {
			return fmt.Errorf("write diff: %w", err)
		}
	}
	return nil
}

// lineOp is one line of a line diff.
type lineOp struct {
	kind byte // ' ', '-', '+'
	text string
}

// lineDiff diffs two texts line by line with sergi/go-diff.
func lineDiff(a, b string) []lineOp {
	dmp := diffmatchpatch.New()
	ra, rb, lines := dmp.DiffLinesToRunes(a, b)
	diffs := dmp.DiffCharsToLines(dmp.DiffMainRunes(ra, rb, false), lines)
	var ops []lineOp
	for _, d := range diffs {
		kind := byte(' ')
		switch d.Type {
		case diffmatchpatch.DiffDelete:
			kind = '-'
		case diffmatchpatch.DiffInsert:
			kind = '+'
		}
		for _, l := range splitLines(d.Text) {
			ops = append(ops, lineOp{kind, l})
		}
	}
	return ops
}

// splitLines splits text into lines, each without its newline; a last line
// without a newline is kept.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// unifiedDiff renders a unified diff with diffContext lines of context.
func unifiedDiff(from, to, a, b string) string {
	ops := lineDiff(a, b)
	var sb strings.Builder
	fmt.Fprintf(&sb, "--- %s\n+++ %s\n", from, to)
	for start := 0; start < len(ops); {
		first := nextChange(ops, start)
		if first < 0 {
			break
		}
		lo := max(first-diffContext, start)
		hi := hunkEnd(ops, first)
		writeHunk(&sb, ops, lo, hi)
		start = hi
	}
	return sb.String()
}

func nextChange(ops []lineOp, from int) int {
	for i := from; i < len(ops); i++ {
		if ops[i].kind != ' ' {
			return i
		}
	}
	return -1
}

// hunkEnd extends a hunk from a change until more than 2*diffContext equal
// lines separate it from the next change.
func hunkEnd(ops []lineOp, i int) int {
	last := i
	for j := i; j < len(ops); j++ {
		if ops[j].kind != ' ' {
			last = j
		} else if j-last > 2*diffContext {
			break
		}
	}
	return min(last+diffContext+1, len(ops))
}

func writeHunk(sb *strings.Builder, ops []lineOp, lo, hi int) {
	oldStart, newStart := 1, 1
	for _, op := range ops[:lo] {
		if op.kind != '+' {
			oldStart++
		}
		if op.kind != '-' {
			newStart++
		}
	}
	oldLen, newLen := 0, 0
	for _, op := range ops[lo:hi] {
		if op.kind != '+' {
			oldLen++
		}
		if op.kind != '-' {
			newLen++
		}
	}
	fmt.Fprintf(sb, "@@ -%s +%s @@\n", hunkRange(oldStart, oldLen), hunkRange(newStart, newLen))
	for _, op := range ops[lo:hi] {
		sb.WriteByte(op.kind)
		sb.WriteString(op.text)
		if !strings.HasSuffix(op.text, "\n") {
			sb.WriteString("\n\\ No newline at end of file\n")
		}
	}
}

func hunkRange(start, n int) string {
	switch n {
	case 0:
		return fmt.Sprintf("%d,0", start-1)
	case 1:
		return fmt.Sprintf("%d", start)
	}
	return fmt.Sprintf("%d,%d", start, n)
}
