package plan

import (
	"fmt"
	"sort"
	"strings"
)

// Position is a place in an input file.
type Position struct {
	Source string // file name
	Line   int    // 1-based; 0 when unknown
	Column int    // 1-based; 0 when unknown
}

func (p Position) String() string {
	switch {
	case p.Line == 0:
		return p.Source
	case p.Column == 0:
		return fmt.Sprintf("%s:%d", p.Source, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.Source, p.Line, p.Column)
}

// Error is one problem with the input: where it is, which object and field,
// and what was expected.
type Error struct {
	Pos Position
	// Object is "Kind/name" of the object concerned, "" before the kind is known.
	Object string
	// Field is the path inside the object, e.g. spec.storagePools[0].name.
	Field string
	// Message says what was found and what was expected.
	Message string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Pos.String())
	b.WriteString(": ")
	if e.Object != "" {
		b.WriteString(e.Object)
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// ErrorList is every problem found in the input; plan reports all at once.
// The same shape carries warnings (Model.Warnings): problems that do not stop
// the plan, printed on stderr as "warning: <position>: ..." and turned into
// errors by --strict.
type ErrorList []*Error

func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// sorted returns the list ordered by file, line, column and message.
func (l ErrorList) sorted() ErrorList {
	out := append(ErrorList(nil), l...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Pos.Source != b.Pos.Source {
			return a.Pos.Source < b.Pos.Source
		}
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line < b.Pos.Line
		}
		if a.Pos.Column != b.Pos.Column {
			return a.Pos.Column < b.Pos.Column
		}
		return a.Error() < b.Error()
	})
	return out
}
