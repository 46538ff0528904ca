package plan

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// document is one Kubernetes object from an input file, decoded to plain
// JSON-compatible values, with the position of every field.
type document struct {
	source string
	// prefix is the object's path inside its document ("items[2]." for an
	// item of a List), so positions can be looked up by object-relative path.
	prefix string
	obj    map[string]any
	index  *positionIndex
	// at is the position of the object itself.
	at Position
}

// positionIndex maps field paths (spec.pools[0].name and labels[key] forms)
// to where they are in the file.
type positionIndex struct {
	source string
	byPath map[string]Position
	// boolWords are the paths of unquoted YAML 1.1 boolean words (yes, off, ...).
	boolWords map[string]bool
}

// position returns where path (object-relative) is, falling back to the
// nearest enclosing field that exists.
func (d *document) position(path string) Position {
	for p := path; ; p = parentPath(p) {
		if pos, ok := d.index.byPath[d.prefix+p]; ok {
			return pos
		}
		if p == "" {
			return d.at
		}
	}
}

// parentPath drops the last element of a field path.
func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

// parseDocuments splits src into YAML documents and decodes each.
func parseDocuments(src Source) ([]*document, ErrorList) {
	dec := yaml.NewDecoder(bytes.NewReader(src.Data))
	var docs []*document
	var errs ErrorList
	for n := 1; ; n++ {
		var root yaml.Node
		err := dec.Decode(&root)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			errs = append(errs, yamlSyntaxError(src.Name, err))
			break
		}
		if n > MaxDocuments {
			errs = append(errs, &Error{Pos: Position{Source: src.Name, Line: root.Line}, Message: fmt.Sprintf(
				"more than %d YAML documents, the limit for one input; split it into several files", MaxDocuments)})
			break
		}
		doc, err := decodeDocument(src.Name, &root)
		if err != nil {
			errs = append(errs, err.(*Error))
			continue
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
	return docs, errs
}

// yamlSyntaxError turns a yaml.v3 error ("yaml: line 3: ...") into an Error.
func yamlSyntaxError(source string, err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	pos := Position{Source: source}
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, tail, ok := strings.Cut(rest, ": "); ok {
			if line, convErr := strconv.Atoi(n); convErr == nil {
				pos.Line, msg = line, tail
			}
		}
	}
	return &Error{Pos: pos, Message: "invalid YAML: " + msg}
}

func decodeDocument(source string, root *yaml.Node) (*document, error) {
	if root.Kind == 0 || len(root.Content) == 0 {
		return nil, nil // empty document
	}
	top := root.Content[0]
	if top.Kind == yaml.ScalarNode && top.Tag == "!!null" {
		return nil, nil
	}
	pos := Position{Source: source, Line: top.Line, Column: top.Column}
	if top.Kind != yaml.MappingNode {
		return nil, &Error{Pos: pos, Message: fmt.Sprintf("expected a Kubernetes object (a mapping), found %s", nodeKindName(top))}
	}
	if err := checkAliasExpansion(source, top); err != nil {
		return nil, err
	}
	idx := &positionIndex{source: source, byPath: map[string]Position{}, boolWords: map[string]bool{}}
	v, err := convertNode(top, "", idx)
	if err != nil {
		return nil, err
	}
	return &document{obj: v.(map[string]any), index: idx, at: pos}, nil
}

func nodeKindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("the scalar %q", n.Value)
	}
	return "something else"
}

// convertNode turns a YAML node into JSON-compatible Go values, recording
// the position of every mapping key and sequence item under its path.
func convertNode(n *yaml.Node, path string, idx *positionIndex) (any, error) {
	if strings.Count(path, ".")+strings.Count(path, "[") > MaxNestingDepth {
		return nil, &Error{Pos: Position{Source: idx.source, Line: n.Line, Column: n.Column}, Field: path,
			Message: fmt.Sprintf("nested more than %d levels deep, the limit for one document", MaxNestingDepth)}
	}
	switch n.Kind {
	case yaml.AliasNode:
		return convertNode(n.Alias, path, idx)
	case yaml.MappingNode:
		return convertMapping(n, path, idx)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for i, item := range n.Content {
			p := path + "[" + strconv.Itoa(i) + "]"
			idx.byPath[p] = Position{Source: idx.source, Line: item.Line, Column: item.Column}
			v, err := convertNode(item, p, idx)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.ScalarNode:
		return convertScalar(n, path, idx)
	}
	return nil, &Error{Pos: Position{Source: idx.source, Line: n.Line, Column: n.Column}, Field: path, Message: "unsupported YAML node"}
}

func convertMapping(n *yaml.Node, path string, idx *positionIndex) (any, error) {
	out := make(map[string]any, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Value == "<<" && k.Tag == "!!merge" {
			if err := mergeInto(out, v, path, idx); err != nil {
				return nil, err
			}
			continue
		}
		pos := Position{Source: idx.source, Line: k.Line, Column: k.Column}
		if k.Kind != yaml.ScalarNode {
			return nil, &Error{Pos: pos, Field: path, Message: "expected a string key, found " + nodeKindName(k)}
		}
		if _, dup := out[k.Value]; dup {
			return nil, &Error{Pos: pos, Field: joinPath(path, k.Value), Message: fmt.Sprintf("duplicate key %q", k.Value)}
		}
		child := joinPath(path, k.Value)
		idx.byPath[child] = pos
		idx.byPath[path+"["+k.Value+"]"] = pos
		val, err := convertNode(v, child, idx)
		if err != nil {
			return nil, err
		}
		out[k.Value] = val
	}
	return out, nil
}

// mergeInto applies a YAML merge key (<<: *anchor) to out.
func mergeInto(out map[string]any, v *yaml.Node, path string, idx *positionIndex) error {
	val, err := convertNode(v, path, idx)
	if err != nil {
		return err
	}
	maps, ok := val.([]any)
	if !ok {
		maps = []any{val}
	}
	for _, m := range maps {
		mm, ok := m.(map[string]any)
		if !ok {
			return &Error{Pos: Position{Source: idx.source, Line: v.Line, Column: v.Column}, Field: path, Message: "merge key needs a mapping"}
		}
		for k, x := range mm {
			if _, set := out[k]; !set {
				out[k] = x
			}
		}
	}
	return nil
}

func joinPath(parent, child string) string {
	if parent == "" {
		return child
	}
	return parent + "." + child
}

func convertScalar(n *yaml.Node, path string, idx *positionIndex) (any, error) {
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, scalarError(n, path, idx, "boolean")
		}
		return b, nil
	case "!!int":
		var i int64
		if err := n.Decode(&i); err == nil {
			return i, nil
		}
		var f float64
		if err := n.Decode(&f); err != nil {
			return nil, scalarError(n, path, idx, "integer")
		}
		return f, nil
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, scalarError(n, path, idx, "finite number")
		}
		return f, nil
	}
	if _, ok := yaml11Bools[n.Value]; ok && n.Style == 0 && n.ShortTag() == "!!str" {
		idx.boolWords[path] = true
	}
	return n.Value, nil // strings, timestamps, binary: kept as text
}

// yaml11Bools are the plain scalars YAML 1.1 reads as booleans. Upstream's
// examples write both `optional: yes` (a boolean) and `values: [yes]` (a
// string), so such words stay strings and become booleans only where the
// schema expects one (coerceBoolWords), as sigs.k8s.io/yaml does when it
// decodes into a typed target.
var yaml11Bools = map[string]bool{
	"y": true, "Y": true, "yes": true, "Yes": true, "YES": true, "on": true, "On": true, "ON": true,
	"n": false, "N": false, "no": false, "No": false, "NO": false, "off": false, "Off": false, "OFF": false,
}

func scalarError(n *yaml.Node, path string, idx *positionIndex, want string) error {
	return &Error{
		Pos:     Position{Source: idx.source, Line: n.Line, Column: n.Column},
		Field:   path,
		Message: fmt.Sprintf("expected a %s, found %q", want, n.Value),
	}
}

// checkAliasExpansion refuses a document whose aliases would expand it by
// more than MaxAliasExpansion values, or that refers to itself, before
// anything is expanded: an alias bomb of a few hundred bytes is refused in
// microseconds instead of growing to gigabytes. Shared subtrees are counted
// once per use, as expansion would copy them.
func checkAliasExpansion(source string, top *yaml.Node) *Error {
	c := aliasCounter{sizes: map[*yaml.Node]int{}, open: map[*yaml.Node]bool{}}
	written := countWritten(top)
	expanded, cyclic := c.size(top)
	switch {
	case cyclic != nil:
		return &Error{Pos: Position{Source: source, Line: cyclic.Line, Column: cyclic.Column},
			Message: fmt.Sprintf("the alias *%s refers to a value that contains it; YAML aliases must not be recursive", cyclic.Value)}
	case expanded-written > MaxAliasExpansion:
		return &Error{Pos: Position{Source: source, Line: top.Line, Column: top.Column},
			Message: fmt.Sprintf("YAML aliases would add more than %d values to this document, the limit for one document (an alias bomb?)", MaxAliasExpansion)}
	}
	return nil
}

// aliasCounter computes expanded sizes, memoised per node.
type aliasCounter struct {
	sizes map[*yaml.Node]int
	open  map[*yaml.Node]bool // nodes on the current path, to find cycles
}

// aliasCountCap caps sizes so that counting itself cannot overflow.
const aliasCountCap = 1 << 40

// size returns how many values n expands to (capped), and the alias that
// closes a cycle, if any.
func (c *aliasCounter) size(n *yaml.Node) (int, *yaml.Node) {
	if s, ok := c.sizes[n]; ok {
		return s, nil
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return 1, nil
		}
		if c.open[n.Alias] {
			return 0, n
		}
		s, cyclic := c.size(n.Alias)
		if cyclic == nil {
			c.sizes[n] = s
		}
		return s, cyclic
	}
	c.open[n] = true
	defer delete(c.open, n)
	total := 1
	for _, child := range n.Content {
		s, cyclic := c.size(child)
		if cyclic != nil {
			return 0, cyclic
		}
		total = min(total+s, aliasCountCap)
	}
	c.sizes[n] = total
	return total, nil
}

// countWritten counts the values written in the document, aliases not followed.
func countWritten(n *yaml.Node) int {
	total := 1
	for _, child := range n.Content {
		total += countWritten(child)
	}
	return total
}
