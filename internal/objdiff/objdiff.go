// Package objdiff is the one diff of piraeusctl: a unified diff of one
// object's text between two sides, the ObjectDiff that carries it, and the
// writer that prints a list of them. Plan diffs (two plans: old → new) and
// live diffs (the cluster → the plan) both use it, so they read alike.
//
// Lines are matched with sergi/go-diff; hunks carry three lines of context
// and are headed as GNU diff -u heads them, a missing side as /dev/null.
package objdiff

import (
	"fmt"
	"io"
	"strings"

	"github.com/sergi/go-diff/diffmatchpatch"
)

// Action is how an object differs between the two sides.
type Action string

// Actions.
const (
	Added     Action = "added"     // only on the "to" side
	Removed   Action = "removed"   // only on the "from" side
	Changed   Action = "changed"   // on both sides, different
	Unchanged Action = "unchanged" // on both sides, equal
)

// contextLines is the number of unchanged lines around each change.
const contextLines = 3

// ObjectDiff is the difference of one object between two sides.
type ObjectDiff struct {
	// ID names the object, as the caller names it (plan diffs:
	// group/version/Kind/namespace/name; live diffs: Kind/namespace/name).
	ID string `json:"id"`
	// Action says how the object differs.
	Action Action `json:"action"`
	// Unified is the unified diff, headed "--- <from>/<ID>" and
	// "+++ <to>/<ID>" (/dev/null for a missing side); empty when unchanged.
	Unified string `json:"diff,omitempty"`
}

// Sides names the two sides of a diff in its headers, e.g. {"old", "new"}
// or {"live", "planned"}.
type Sides struct{ From, To string }

// Compare diffs one object's text on the two sides; a nil text means the
// object is missing on that side.
func Compare(id string, sides Sides, from, to []byte) ObjectDiff {
	d := ObjectDiff{ID: id, Action: Changed}
	fromName, toName := sides.From+"/"+id, sides.To+"/"+id
	switch {
	case from == nil && to == nil:
		d.Action = Unchanged
		return d
	case from == nil:
		d.Action, fromName = Added, "/dev/null"
	case to == nil:
		d.Action, toName = Removed, "/dev/null"
	case string(from) == string(to):
		d.Action = Unchanged
		return d
	}
	d.Unified = unified(fromName, toName, string(from), string(to))
	return d
}

// Write prints the unified diffs one after the other (unchanged objects
// print nothing).
func Write(w io.Writer, diffs []ObjectDiff) error {
	for _, d := range diffs {
		if _, err := io.WriteString(w, d.Unified); err != nil {
			return fmt.Errorf("write diff: %w", err)
		}
	}
	return nil
}

// AnyChange reports whether any object differs.
func AnyChange(diffs []ObjectDiff) bool {
	for _, d := range diffs {
		if d.Action != Unchanged {
			return true
		}
	}
	return false
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

// unified renders a unified diff with contextLines lines of context.
func unified(from, to, a, b string) string {
	ops := lineDiff(a, b)
	var sb strings.Builder
	fmt.Fprintf(&sb, "--- %s\n+++ %s\n", from, to)
	for start := 0; start < len(ops); {
		first := nextChange(ops, start)
		if first < 0 {
			break
		}
		lo := max(first-contextLines, start)
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

// hunkEnd extends a hunk from a change until more than 2*contextLines equal
// lines separate it from the next change.
func hunkEnd(ops []lineOp, i int) int {
	last := i
	for j := i; j < len(ops); j++ {
		if ops[j].kind != ' ' {
			last = j
		} else if j-last > 2*contextLines {
			break
		}
	}
	return min(last+contextLines+1, len(ops))
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
