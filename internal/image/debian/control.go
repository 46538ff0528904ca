package debian

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
)

// Paragraph is one stanza of a Debian control file (a Packages index entry
// or a package's DEBIAN/control): field names as written, values with
// continuation lines joined by "\n".
type Paragraph map[string]string

// ParseParagraphs reads every stanza of a control file. name is used in
// errors ("Packages:12: ...").
func ParseParagraphs(r io.Reader, name string) ([]Paragraph, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	var out []Paragraph
	var cur Paragraph
	var last string
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		switch {
		case strings.TrimSpace(text) == "":
			if cur != nil {
				out = append(out, cur)
			}
			cur, last = nil, ""
		case text[0] == ' ' || text[0] == '\t':
			if last == "" {
				return nil, fmt.Errorf("%s:%d: continuation line without a field", name, line)
			}
			cur[last] += "\n" + strings.TrimSpace(text)
		default:
			key, value, ok := strings.Cut(text, ":")
			if !ok || key == "" || strings.ContainsAny(key, " \t") {
				return nil, fmt.Errorf("%s:%d: expected \"Field: value\", found %q", name, line, text)
			}
			if cur == nil {
				cur = Paragraph{}
			}
			if _, dup := cur[key]; dup {
				return nil, fmt.Errorf("%s:%d: field %s given twice in one stanza", name, line, key)
			}
			cur[key] = strings.TrimSpace(value)
			last = key
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if cur != nil {
		out = append(out, cur)
	}
	return out, nil
}

// ParseControl reads a package's single-stanza control file.
func ParseControl(data []byte, name string) (Paragraph, error) {
	ps, err := ParseParagraphs(bytes.NewReader(data), name)
	if err != nil {
		return nil, err
	}
	if len(ps) != 1 {
		return nil, fmt.Errorf("%s: expected one stanza, found %d", name, len(ps))
	}
	return ps[0], nil
}

// Relation is one alternative of a dependency: a package name, optionally
// with a version constraint ("libc6 (>= 2.34)").
type Relation struct {
	Name    string
	Op      string // "", "<<", "<=", "=", ">=", ">>"
	Version string
}

func (r Relation) String() string {
	if r.Op == "" {
		return r.Name
	}
	return fmt.Sprintf("%s (%s %s)", r.Name, r.Op, r.Version)
}

// Satisfied reports whether version meets the constraint.
func (r Relation) Satisfied(version string) bool {
	if r.Op == "" {
		return true
	}
	c := CompareVersions(version, r.Version)
	switch r.Op {
	case "<<":
		return c < 0
	case "<=":
		return c <= 0
	case "=":
		return c == 0
	case ">=":
		return c >= 0
	case ">>":
		return c > 0
	}
	return false
}

// ParseRelations parses a Depends-style field: comma-separated groups of
// "|"-separated alternatives. Architecture qualifiers (":any") are dropped;
// architecture and profile restrictions ("[amd64]", "<!nocheck>") are
// rejected, as binary package indexes do not carry them.
func ParseRelations(field string) ([][]Relation, error) {
	var out [][]Relation
	for _, group := range strings.Split(field, ",") {
		group = strings.TrimSpace(group)
		if group == "" {
			continue
		}
		var alts []Relation
		for _, alt := range strings.Split(group, "|") {
			r, err := parseRelation(strings.TrimSpace(alt))
			if err != nil {
				return nil, fmt.Errorf("%q: %w", field, err)
			}
			alts = append(alts, r)
		}
		out = append(out, alts)
	}
	return out, nil
}

var relationOps = []string{"<<", "<=", ">=", ">>", "=", "<", ">"}

func parseRelation(s string) (Relation, error) {
	if strings.ContainsAny(s, "[<") && !strings.Contains(s, "(") {
		return Relation{}, fmt.Errorf("%q: architecture or profile restrictions are not supported", s)
	}
	name, rest, hasVersion := strings.Cut(s, "(")
	name = strings.TrimSpace(name)
	name, _, _ = strings.Cut(name, ":")
	if name == "" || strings.ContainsAny(name, " \t[]<>") {
		return Relation{}, fmt.Errorf("%q: expected a package name", s)
	}
	r := Relation{Name: name}
	if !hasVersion {
		return r, nil
	}
	inner, tail, ok := strings.Cut(rest, ")")
	if !ok || strings.TrimSpace(tail) != "" {
		return Relation{}, fmt.Errorf("%q: expected \"name (op version)\"", s)
	}
	inner = strings.TrimSpace(inner)
	for _, op := range relationOps {
		if v, ok := strings.CutPrefix(inner, op); ok {
			r.Op, r.Version = op, strings.TrimSpace(v)
			break
		}
	}
	switch r.Op {
	case "<": // obsolete spellings
		r.Op = "<="
	case ">":
		r.Op = ">="
	}
	if r.Op == "" || r.Version == "" {
		return Relation{}, fmt.Errorf("%q: expected \"name (op version)\" with op one of << <= = >= >>", s)
	}
	return r, nil
}
