package planfile

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// yamlWriter streams decoded JSON values (maps, slices, strings, numbers,
// booleans, nil) as block YAML with sorted keys: the layout kubectl and
// sigs.k8s.io/yaml print, without a JSON → map → YAML round trip.
type yamlWriter struct {
	w   *bufio.Writer
	err error
}

func newYAMLWriter(w io.Writer) *yamlWriter {
	return &yamlWriter{w: bufio.NewWriterSize(w, 64<<10)}
}

func (y *yamlWriter) flush() error {
	if y.err != nil {
		return y.err
	}
	return y.w.Flush()
}

func (y *yamlWriter) str(s string) {
	if y.err == nil {
		_, y.err = y.w.WriteString(s)
	}
}

func (y *yamlWriter) indent(n int) {
	for i := 0; i < n; i++ {
		y.str(" ")
	}
}

// document writes one top-level value (normally a map) as a document body.
func (y *yamlWriter) document(v any) {
	switch t := v.(type) {
	case map[string]any:
		if len(t) > 0 {
			y.mapping(t, 0)
			return
		}
	case []any:
		if len(t) > 0 {
			y.sequence(t, 0)
			return
		}
	}
	y.scalar(v, 0)
	y.str("\n")
}

// mapping writes a non-empty map at the given indentation; the cursor is at
// the start of the first key's line (already indented for the first key
// when it follows "- ").
func (y *yamlWriter) mapping(m map[string]any, ind int) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		if i > 0 {
			y.indent(ind)
		}
		y.key(k, ind)
		y.value(m[k], ind)
	}
}

// value writes what follows "key:" and ends the line(s).
func (y *yamlWriter) value(v any, ind int) {
	switch t := v.(type) {
	case map[string]any:
		if len(t) > 0 {
			y.str("\n")
			y.indent(ind + 2)
			y.mapping(t, ind+2)
			return
		}
	case []any:
		if len(t) > 0 {
			y.str("\n")
			y.indent(ind)
			y.sequence(t, ind)
			return
		}
	}
	y.str(" ")
	y.scalar(v, ind+2)
	y.str("\n")
}

// sequence writes a non-empty list whose "- " items sit at ind; the cursor
// is already indented for the first item.
func (y *yamlWriter) sequence(s []any, ind int) {
	for i, e := range s {
		if i > 0 {
			y.indent(ind)
		}
		y.str("- ")
		switch t := e.(type) {
		case map[string]any:
			if len(t) > 0 {
				y.mapping(t, ind+2)
				continue
			}
		case []any:
			if len(t) > 0 {
				y.sequence(t, ind+2)
				continue
			}
		}
		y.scalar(e, ind+2)
		y.str("\n")
	}
}

// maxImplicitKey is below YAML's 1024-character limit of implicit keys;
// longer keys are written as explicit "? key" entries.
const maxImplicitKey = 1000

func (y *yamlWriter) key(k string, ind int) {
	if len(k) > maxImplicitKey {
		y.str("? ")
		y.str(doubleQuoted(k))
		y.str("\n")
		y.indent(ind)
	} else if plainSafe(k) {
		y.str(k)
	} else {
		y.str(doubleQuoted(k))
	}
	y.str(":")
}

// scalar writes a scalar (or an empty collection); ind is the indentation
// of a block scalar's lines.
func (y *yamlWriter) scalar(v any, ind int) {
	switch t := v.(type) {
	case nil:
		y.str("null")
	case bool:
		y.str(strconv.FormatBool(t))
	case string:
		y.stringScalar(t, ind)
	case int64:
		y.str(strconv.FormatInt(t, 10))
	case int:
		y.str(strconv.Itoa(t))
	case int32:
		y.str(strconv.FormatInt(int64(t), 10))
	case float64:
		y.str(formatFloat(t))
	case json.Number:
		y.str(t.String())
	case map[string]any:
		y.str("{}")
	case []any:
		y.str("[]")
	default:
		if y.err == nil {
			y.err = fmt.Errorf("yaml: unsupported value type %T", v)
		}
	}
}

func formatFloat(f float64) string {
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eEn") { // keep it a float when read back
		s += ".0"
	}
	return s
}

func (y *yamlWriter) stringScalar(s string, ind int) {
	switch {
	case plainSafe(s):
		y.str(s)
	case blockSafe(s):
		y.literalBlock(s, ind)
	default:
		y.str(doubleQuoted(s))
	}
}

// literalBlock writes a multi-line string as a literal block scalar.
func (y *yamlWriter) literalBlock(s string, ind int) {
	body := strings.TrimRight(s, "\n")
	switch trailing := len(s) - len(body); {
	case trailing == 0:
		y.str("|-")
	case trailing == 1:
		y.str("|")
	default:
		y.str("|+")
		body = s[:len(s)-1]
	}
	for _, line := range strings.Split(body, "\n") {
		y.str("\n")
		if line != "" {
			y.indent(ind)
			y.str(line)
		}
	}
}

// reserved are plain scalars YAML 1.1 or 1.2 would not read as strings.
var reserved = map[string]bool{
	"y": true, "Y": true, "yes": true, "Yes": true, "YES": true,
	"n": true, "N": true, "no": true, "No": true, "NO": true,
	"true": true, "True": true, "TRUE": true, "false": true, "False": true, "FALSE": true,
	"on": true, "On": true, "ON": true, "off": true, "Off": true, "OFF": true,
	"null": true, "Null": true, "NULL": true, "~": true, "<<": true, "=": true,
}

// plainSafe reports whether s can be written unquoted and reads back as the
// same string. It is deliberately conservative.
func plainSafe(s string) bool {
	if s == "" || reserved[s] || s[0] == ' ' || s[len(s)-1] == ' ' || s[len(s)-1] == ':' {
		return false
	}
	switch c := s[0]; {
	case strings.IndexByte("?:,[]{}#&*!|>'\"%@`", c) >= 0:
		return false
	case c == '-':
		if len(s) == 1 || s[1] == ' ' || s[1] == '.' || s[1] == '_' || (s[1] >= '0' && s[1] <= '9') || strings.HasPrefix(s, "---") {
			return false
		}
	case c == '+' || c == '.' || (c >= '0' && c <= '9'):
		return false // numbers, .inf, .nan, times, sexagesimals
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			return false
		}
		if (c == ':' || c == '#') && i+1 < len(s) && s[i+1] == ' ' {
			return false
		}
		if c == ' ' && i+1 < len(s) && s[i+1] == '#' {
			return false
		}
	}
	return true
}

// blockSafe reports whether s reads back unchanged as a literal block.
func blockSafe(s string) bool {
	if !strings.Contains(s, "\n") || strings.Trim(s, "\n") == "" || !utf8.ValidString(s) {
		return false
	}
	first := strings.TrimLeft(s, "\n")
	if first[0] == ' ' || first[0] == '\t' || strings.HasPrefix(s, "\n") {
		return false
	}
	for _, r := range s {
		if r == '\n' {
			continue
		}
		if r == '\t' || r == 0xFEFF || r == 0x85 || r == 0x2028 || r == 0x2029 || !unicode.IsPrint(r) {
			return false
		}
	}
	for _, line := range strings.Split(s, "\n") {
		if strings.HasSuffix(line, " ") {
			return false // trailing spaces are easy to lose in review and editors
		}
	}
	return true
}

// doubleQuoted writes s as a YAML double-quoted scalar (JSON escaping is a
// subset of YAML's).
func doubleQuoted(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f || r == 0x85 || r == 0xFEFF || r == 0x2028 || r == 0x2029 || r == utf8.RuneError:
			fmt.Fprintf(&b, `\u%04x`, r)
		case r > 0xFFFF && !unicode.IsPrint(r):
			fmt.Fprintf(&b, `\U%08x`, r)
		case !unicode.IsPrint(r) && r > 0x7f:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
