package planfile

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

// exportHeader starts the kustomization.yaml Export writes.
const exportHeader = "# Written by piraeusctl export: the manifests of this folder. Export rewrites\n" +
	"# it, and refuses to overwrite an edited copy without --force: keep additions\n" +
	"# in a kustomization of your own that lists this folder as a resource.\n"

// legacyExportHeader started the kustomization.yaml of exports that kept no
// ownership record (before OwnershipFile).
const legacyExportHeader = "# Written by piraeusctl export. It lists the files the export wrote; the next\n" +
	"# export rewrites it and removes the files it no longer lists. Do not edit.\n"

type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Resources  []string `json:"resources"`
}

// ExportOptions change what Export may do.
type ExportOptions struct {
	// Force overwrites files in the folder that export did not write (or
	// that changed since). It never makes export remove such a file, nor
	// write into a folder checkExportTarget refuses.
	Force bool
}

// PreparedExport is an export decided but not written yet.
type PreparedExport struct {
	step *exportStep
	// Kept are files export no longer needs but leaves in place, with why.
	Kept []KeptFile
}

// PrepareExport decides what exporting objs into dir writes and removes (see
// export_owned.go for what export owns) and writes nothing: a refused
// target or a file export would overwrite but does not own (unless
// opts.Force) is an error naming every such file.
func PrepareExport(objs []*unstructured.Unstructured, dir string, opts ExportOptions) (*PreparedExport, error) {
	if err := checkExportTarget(dir); err != nil {
		return nil, err
	}
	own, found, err := readOwnership(dir)
	if err != nil {
		return nil, err
	}
	if !found {
		if own, err = legacyOwnership(dir); err != nil {
			return nil, err
		}
	}
	files, err := exportFiles(objs)
	if err != nil {
		return nil, err
	}
	step, err := decideExport(dir, files, own, opts.Force)
	if err != nil {
		return nil, err
	}
	return &PreparedExport{step: step, Kept: step.kept}, nil
}

// Write carries the export out: files replaced atomically, stale ones
// removed, the ownership record kept true at every step.
func (e *PreparedExport) Write() error {
	if err := os.MkdirAll(e.step.dir, 0o755); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return e.step.apply()
}

// Export writes one file per object into dir (created if needed) plus a
// kustomization.yaml listing them in plan order, so Argo CD and Flux can sync
// the folder as it is. Files a previous export wrote that the plan no longer
// has are removed; other files in the folder are never removed, and never
// overwritten unless opts.Force. Files whose content is unchanged are not
// rewritten. It returns the files it left in place although it no longer
// needs them.
func Export(objs []*unstructured.Unstructured, dir string, opts ExportOptions) ([]KeptFile, error) {
	e, err := PrepareExport(objs, dir, opts)
	if err != nil {
		return nil, err
	}
	return e.Kept, e.Write()
}

// exportFiles are the files of an export: one per object, and the index.
func exportFiles(objs []*unstructured.Unstructured) ([]exportFile, error) {
	names := ExportFileNames(objs)
	files := make([]exportFile, 0, len(names)+1)
	for i, o := range objs {
		data, err := ObjectYAML(o)
		if err != nil {
			return nil, fmt.Errorf("export %s: %w", ObjectID(o), err)
		}
		files = append(files, exportFile{name: names[i], data: data})
	}
	k := kustomization{APIVersion: "kustomize.config.k8s.io/v1beta1", Kind: "Kustomization", Resources: names}
	body, err := yaml.Marshal(k)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	return append(files, exportFile{name: KustomizationFile, data: append([]byte(exportHeader), body...)}), nil
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
			names[i] += "-" + hex.EncodeToString(sum[:])[:exportHashLen]
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
		stem = stem[:190] + "-" + hex.EncodeToString(sum[:])[:exportHashLen]
	}
	return stem
}

// legacyOwnership is what an export of an older piraeusctl owns in a
// folder without OwnershipFile: the kustomization.yaml carrying
// exportHeader and the files it lists, whatever they hold (that export kept
// no sums). Such files may be replaced but are never removed.
func legacyOwnership(dir string) (ownership, error) {
	listed, err := readExportIndex(dir)
	if err != nil || listed == nil {
		return ownership{}, err
	}
	own := ownership{KustomizationFile: {anySum}}
	for _, name := range listed {
		own[name] = []string{anySum}
	}
	return own, nil
}

// readExportIndex returns the files an older export's kustomization.yaml
// lists; nil when there is none or it does not carry exportHeader.
func readExportIndex(dir string) ([]string, error) {
	data, err := readRegular(filepath.Join(dir, KustomizationFile))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errNotRegular) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	if !bytes.HasPrefix(data, []byte(exportHeader)) && !bytes.HasPrefix(data, []byte(legacyExportHeader)) {
		return nil, nil
	}
	var k kustomization
	if err := yaml.Unmarshal(data, &k); err != nil {
		return nil, fmt.Errorf("export: %s: %w", filepath.Join(dir, KustomizationFile), err)
	}
	out := []string{}
	for _, r := range k.Resources {
		// Only plain file names in the folder itself.
		if plainFileName(r) && r != KustomizationFile {
			out = append(out, r)
		}
	}
	return out, nil
}

// exportHashLen is the length of the hash that tells clashing file names apart.
const exportHashLen = 8
