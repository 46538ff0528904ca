package render

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// KustomizationFile is the index Export writes into the folder.
const KustomizationFile = "kustomization.yaml"

// exportHeader marks a kustomization.yaml written by Export. Export only
// replaces a kustomization.yaml that carries it.
const exportHeader = "# Written by piraeusctl export. It lists the files the export wrote; the next\n" +
	"# export rewrites it and removes the files it no longer lists. Do not edit.\n"

type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Resources  []string `json:"resources"`
}

// Export writes one file per object into dir (created if needed) plus a
// kustomization.yaml listing them in plan order, so Argo CD and Flux can sync
// the folder as it is. Files a previous export wrote that the plan no longer
// has are removed; other files in the folder are left alone. Files whose
// content is unchanged are not rewritten.
func Export(p *Plan, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	old, err := readExportIndex(dir)
	if err != nil {
		return err
	}
	names := ExportFileNames(p.Objects)
	for i, o := range p.Objects {
		data, err := ObjectYAML(o)
		if err != nil {
			return fmt.Errorf("export %s: %w", ObjectID(o), err)
		}
		if err := WriteFile(filepath.Join(dir, names[i]), data); err != nil {
			return fmt.Errorf("export %s: %w", ObjectID(o), err)
		}
	}
	// Widen the index before removing anything, so a crash never forgets a
	// file this export wrote or one it has still to remove.
	stale := staleFiles(old, names)
	if len(stale) > 0 {
		if err := writeExportIndex(dir, append(append([]string(nil), names...), stale...)); err != nil {
			return err
		}
		for _, name := range stale {
			if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("export: remove stale %s: %w", name, err)
			}
		}
	}
	return writeExportIndex(dir, names)
}

// ExportFileNames returns the file name of each object:
// <kind>-<namespace>-<name>.yaml (cluster-scoped: <kind>-<name>.yaml),
// lower-case with odd characters replaced; names that would clash get a
// short hash of the object's identity.
func ExportFileNames(objs []*unstructured.Unstructured) []string {
	names := make([]string, len(objs))
	count := map[string]int{}
	for i, o := range objs {
		parts := []string{o.GetKind()}
		if ns := o.GetNamespace(); ns != "" {
			parts = append(parts, ns)
		}
		parts = append(parts, o.GetName())
		names[i] = safeFileStem(strings.Join(parts, "-"))
		count[names[i]]++
	}
	for i, o := range objs {
		if count[names[i]] > 1 {
			sum := sha256.Sum256([]byte(ObjectID(o)))
			names[i] += "-" + hex.EncodeToString(sum[:])[:hashLen]
		}
		names[i] += ".yaml"
	}
	return names
}

func safeFileStem(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	stem := strings.TrimLeft(b.String(), ".")
	if len(stem) > 200 {
		sum := sha256.Sum256([]byte(s))
		stem = stem[:190] + "-" + hex.EncodeToString(sum[:])[:hashLen]
	}
	return stem
}

// readExportIndex returns the files a previous export listed (none when
// there is no kustomization.yaml). A kustomization.yaml that Export did not
// write is an error: the folder belongs to someone else.
func readExportIndex(dir string) ([]string, error) {
	path := filepath.Join(dir, KustomizationFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	if !bytes.HasPrefix(data, []byte(exportHeader)) {
		return nil, fmt.Errorf("export: %s was not written by piraeusctl export; export into an empty folder or remove it", path)
	}
	var k kustomization
	if err := yaml.Unmarshal(data, &k); err != nil {
		return nil, fmt.Errorf("export: %s: %w", path, err)
	}
	var out []string
	for _, r := range k.Resources {
		// Only plain file names in the folder itself are ever removed.
		if r == filepath.Base(r) && r != "." && r != ".." && r != KustomizationFile && !strings.ContainsAny(r, `/\`) {
			out = append(out, r)
		}
	}
	return out, nil
}

func writeExportIndex(dir string, names []string) error {
	k := kustomization{APIVersion: "kustomize.config.k8s.io/v1beta1", Kind: "Kustomization", Resources: names}
	body, err := yaml.Marshal(k)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if err := WriteFile(filepath.Join(dir, KustomizationFile), append([]byte(exportHeader), body...)); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

func staleFiles(old, current []string) []string {
	keep := make(map[string]bool, len(current))
	for _, n := range current {
		keep[n] = true
	}
	var out []string
	for _, n := range old {
		if !keep[n] {
			out = append(out, n)
		}
	}
	return out
}
