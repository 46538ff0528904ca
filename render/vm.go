package render

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/google/go-jsonnet"
	"github.com/google/go-jsonnet/ast"

	"github.com/piraeusctl/piraeusctl/templates"
)

// defaultMaxStack bounds Jsonnet recursion depth.
const defaultMaxStack = 500

// templateSource finds template files: the user's directory first, then the
// embedded templates.
type templateSource struct {
	layers []fs.FS
	// cache: go-jsonnet wants the same Contents each time a path is imported.
	cache map[string]jsonnet.Contents
}

func newTemplateSource(dir string) (*templateSource, error) {
	src := &templateSource{cache: map[string]jsonnet.Contents{}}
	if dir != "" {
		info, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("templates dir: %w", err)
		}
		if !info.IsDir() {
			return nil, fmt.Errorf("templates dir %s: not a directory", dir)
		}
		src.layers = append(src.layers, os.DirFS(dir))
	}
	src.layers = append(src.layers, templates.FS())
	return src, nil
}

// fork returns a source for another VM: same layers, its own import cache
// (a cache is not safe for concurrent use).
func (s *templateSource) fork() *templateSource {
	return &templateSource{layers: s.layers, cache: map[string]jsonnet.Contents{}}
}

// components lists the top-level *.jsonnet files of every layer, sorted.
func (s *templateSource) components() ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, layer := range s.layers {
		names, err := fs.Glob(layer, "*.jsonnet")
		if err != nil {
			return nil, fmt.Errorf("list templates: %w", err)
		}
		for _, n := range names {
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// Import implements jsonnet.Importer. Paths are relative to the importing
// file within the template tree; the first layer holding the file wins.
func (s *templateSource) Import(importedFrom, importedPath string) (jsonnet.Contents, string, error) {
	rel := path.Clean(path.Join(path.Dir(importedFrom), importedPath))
	if path.IsAbs(importedPath) || strings.HasPrefix(rel, "../") || rel == ".." {
		return jsonnet.Contents{}, "", fmt.Errorf("import %q: outside the template tree", importedPath)
	}
	if c, ok := s.cache[rel]; ok {
		return c, rel, nil
	}
	for _, layer := range s.layers {
		data, err := fs.ReadFile(layer, rel)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return jsonnet.Contents{}, "", fmt.Errorf("import %s: %w", rel, err)
		}
		c := jsonnet.MakeContentsRaw(data)
		s.cache[rel] = c
		return c, rel, nil
	}
	return jsonnet.Contents{}, "", fmt.Errorf("import %q: no such template", importedPath)
}

// newVM makes the one Jsonnet VM configuration the renderer uses.
func newVM(src *templateSource, maxStack int) *jsonnet.VM {
	vm := jsonnet.MakeVM()
	vm.Importer(src)
	if maxStack <= 0 {
		maxStack = defaultMaxStack
	}
	vm.MaxStack = maxStack
	for _, f := range nativeFunctions() {
		vm.NativeFunction(f)
	}
	return vm
}

// nativeFunctions are the Go helpers templates call with std.native(name),
// only for what Jsonnet does badly.
func nativeFunctions() []*jsonnet.NativeFunction {
	return []*jsonnet.NativeFunction{nativeSHA256(), nativeSafeName()}
}

// sha256(s) returns "sha256:<hex>" of a string.
func nativeSHA256() *jsonnet.NativeFunction {
	return &jsonnet.NativeFunction{
		Name:   "sha256",
		Params: ast.Identifiers{"s"},
		Func: func(args []any) (any, error) {
			s, ok := args[0].(string)
			if !ok {
				return nil, fmt.Errorf("sha256: want a string, got %T", args[0])
			}
			sum := sha256.Sum256([]byte(s))
			return "sha256:" + hex.EncodeToString(sum[:]), nil
		},
	}
}

// safeName(prefix, name) returns prefix-name as a DNS-1123 label (≤63),
// shortened with a stable hash suffix when needed.
func nativeSafeName() *jsonnet.NativeFunction {
	return &jsonnet.NativeFunction{
		Name:   "safeName",
		Params: ast.Identifiers{"prefix", "name"},
		Func: func(args []any) (any, error) {
			prefix, ok1 := args[0].(string)
			name, ok2 := args[1].(string)
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("safeName: want two strings, got %T and %T", args[0], args[1])
			}
			return hashedName(prefix, name, 63), nil
		},
	}
}
