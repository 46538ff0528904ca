package planfile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/piraeusctl/piraeusctl/internal/kindorder"
	"github.com/piraeusctl/piraeusctl/plan"
)

// Read reads a plan written by WriteYAML or WriteJSON (multi-document YAML,
// a JSON object, or a v1 List) and returns its objects in plan order.
func Read(r io.Reader) ([]*unstructured.Unstructured, error) {
	data, err := io.ReadAll(io.LimitReader(r, plan.MaxInputBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	if len(data) > plan.MaxInputBytes {
		return nil, fmt.Errorf("read plan: more than the input limit of %d MiB", plan.MaxInputBytes>>20)
	}
	objs, err := decodeObjects(data)
	if err != nil {
		return nil, err
	}
	kindorder.Sort(objs)
	return objs, nil
}

// ReadPath reads a plan file, or a folder written by Export (every *.yaml,
// *.yml and *.json file in it except kustomization.yaml). Only regular files
// within plan's input limits are read (plan.ReadInputFile).
func ReadPath(path string) ([]*unstructured.Unstructured, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	if !info.IsDir() {
		data, err := plan.ReadInputFile(path)
		if err != nil {
			return nil, fmt.Errorf("read plan: %w", err)
		}
		objs, err := Read(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return objs, nil
	}
	return readDir(path)
}

func readDir(dir string) ([]*unstructured.Unstructured, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	var objs []*unstructured.Unstructured
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || name == KustomizationFile || !isManifestName(name) {
			continue
		}
		data, err := plan.ReadInputFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("read plan: %w", err)
		}
		got, err := decodeObjects(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, name), err)
		}
		objs = append(objs, got...)
	}
	kindorder.Sort(objs)
	return objs, nil
}

func isManifestName(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// decodeObjects splits YAML documents (JSON is YAML) and expands Lists.
func decodeObjects(data []byte) ([]*unstructured.Unstructured, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var objs []*unstructured.Unstructured
	for doc := 1; ; doc++ {
		raw, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", doc, err)
		}
		if len(bytes.TrimSpace(raw)) == 0 {
			continue
		}
		got, err := decodeDocument(raw)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", doc, err)
		}
		objs = append(objs, got...)
	}
}

func decodeDocument(raw []byte) ([]*unstructured.Unstructured, error) {
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return nil, err
	}
	var v any
	if err := utiljson.Unmarshal(js, &v); err != nil {
		return nil, err
	}
	if v == nil {
		return nil, nil // a document of comments only
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("want an object, got %T", v)
	}
	u := &unstructured.Unstructured{Object: m}
	if u.IsList() {
		items, _ := m["items"].([]any)
		out := make([]*unstructured.Unstructured, 0, len(items))
		for i, it := range items {
			im, ok := it.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("items[%d]: want an object, got %T", i, it)
			}
			item := &unstructured.Unstructured{Object: im}
			if err := checkObject(item); err != nil {
				return nil, fmt.Errorf("items[%d]: %w", i, err)
			}
			out = append(out, item)
		}
		return out, nil
	}
	if err := checkObject(u); err != nil {
		return nil, err
	}
	return []*unstructured.Unstructured{u}, nil
}

func checkObject(u *unstructured.Unstructured) error {
	if u.GetAPIVersion() == "" || u.GetKind() == "" || u.GetName() == "" {
		return fmt.Errorf("apiVersion, kind and metadata.name are required")
	}
	return nil
}
