package plan

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Source is one input file (or stdin, or a document fetched from a cluster).
type Source struct {
	// Name shown in error messages: the path, "-" for stdin, or "cluster:<kind>".
	Name string
	// Data is the YAML or JSON content, possibly several documents.
	Data []byte
}

// inputExtensions are the file name endings a directory walk picks up.
var inputExtensions = []string{".yaml", ".yml", ".json"}

// ReadSources reads every path: a file, a directory (recursively, files
// ending in .yaml, .yml or .json, in sorted order), or "-" for stdin.
func ReadSources(paths []string, stdin io.Reader) ([]Source, error) {
	var out []Source
	for _, p := range paths {
		srcs, err := readPath(p, stdin)
		if err != nil {
			return nil, err
		}
		out = append(out, srcs...)
	}
	return out, nil
}

func readPath(p string, stdin io.Reader) ([]Source, error) {
	if p == "-" {
		data, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("read stdin: %w", err)
		}
		return []Source{{Name: "-", Data: data}}, nil
	}
	info, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	if !info.IsDir() {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		return []Source{{Name: p, Data: data}}, nil
	}
	return readDir(p)
}

func readDir(dir string) ([]Source, error) {
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && hasInputExtension(path) {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read directory %s: %w", dir, err)
	}
	sort.Strings(files)
	out := make([]Source, 0, len(files))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", f, err)
		}
		out = append(out, Source{Name: f, Data: data})
	}
	return out, nil
}

func hasInputExtension(path string) bool {
	for _, ext := range inputExtensions {
		if strings.HasSuffix(strings.ToLower(path), ext) {
			return true
		}
	}
	return false
}
