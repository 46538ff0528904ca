package planfile

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// What export owns. An export folder is shared: users keep their own files
// next to the exported ones (a README, an overlay, extra manifests), and a
// GitOps tool syncs it. Export therefore keeps the list of the files it
// wrote, with the sha256 of what it wrote, in OwnershipFile, a file of its
// own that no user edits and no GitOps tool reads (not YAML). Export
// replaces or removes only a file on that list that still holds what export
// wrote; any other file is the user's: export refuses to overwrite it unless
// --force, and never removes it.

// OwnershipFile lists the files export wrote in its folder. Its presence
// also marks the folder as an export folder.
const OwnershipFile = ".piraeusctl-export"

const ownershipHeader = "# Written by piraeusctl export: the files it wrote in this folder, with the\n" +
	"# sha256 of what it wrote. Export replaces or removes only these, and only\n" +
	"# while they hold what it wrote; every other file is left alone. Do not edit.\n"

// ownership maps a file name to the sha256 (hex) of contents export wrote
// to it; while an export runs a file may have its old and its new sum.
type ownership map[string][]string

// anySum marks a file an older export listed in its kustomization.yaml,
// before ownership was recorded: it may be replaced, whatever it holds.
const anySum = "*"

func sumOf(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// owns reports whether export wrote the file holding data.
func (o ownership) owns(name string, data []byte) bool {
	sums := o[name]
	return slices.Contains(sums, anySum) || slices.Contains(sums, sumOf(data))
}

// readOwnership reads the folder's OwnershipFile; found is false when there
// is none.
func readOwnership(dir string) (own ownership, found bool, err error) {
	path := filepath.Join(dir, OwnershipFile)
	data, err := readRegular(path)
	if errors.Is(err, fs.ErrNotExist) {
		return ownership{}, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("export: %w", err)
	}
	own = ownership{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		sum, name, ok := strings.Cut(text, "  ")
		if !ok || len(sum) != sha256.Size*2 || !plainFileName(name) {
			return nil, false, fmt.Errorf("export: %s:%d: expected \"<sha256>  <file name>\"; the file is export's own record, restore it from version control or remove the folder's exported files by hand", path, line)
		}
		own[name] = append(own[name], sum)
	}
	return own, true, nil
}

// writeOwnership replaces the folder's OwnershipFile with own.
func writeOwnership(dir string, own ownership) error {
	var b strings.Builder
	b.WriteString(ownershipHeader)
	for _, name := range slices.Sorted(maps.Keys(own)) {
		for _, sum := range slices.Compact(slices.Sorted(slices.Values(own[name]))) {
			if sum != anySum {
				fmt.Fprintf(&b, "%s  %s\n", sum, name)
			}
		}
	}
	if cur, err := readRegular(filepath.Join(dir, OwnershipFile)); err == nil && string(cur) == b.String() {
		return nil
	}
	return writeInDir(dir, OwnershipFile, []byte(b.String()))
}

// plainFileName: a name in the folder itself, nothing above or below it.
func plainFileName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, `/\`) && name == filepath.Base(name)
}

// checkExportTarget refuses folders no export should write into: the root,
// a home directory, and a repository's top (a folder holding .git) that is
// not already an export folder. Symbolic links are resolved first.
func checkExportTarget(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	info, err := os.Stat(abs)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // created fresh: nothing in it to protect
	}
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if !info.IsDir() {
		return fmt.Errorf("export: --dir %s is not a folder", dir)
	}
	suggest := fmt.Sprintf("give a folder of its own, e.g. --dir %s", filepath.Join(dir, "deploy", "piraeus"))
	if abs == filepath.Dir(abs) {
		return fmt.Errorf("export: refusing to write into %s, the root of the file system; %s", abs, suggest)
	}
	for _, home := range homeDirs() {
		if hi, err := os.Stat(home); err == nil && os.SameFile(hi, info) {
			return fmt.Errorf("export: refusing to write into %s, a home directory; %s", abs, suggest)
		}
	}
	if _, err := os.Lstat(filepath.Join(abs, ".git")); err == nil {
		if _, err := os.Lstat(filepath.Join(abs, OwnershipFile)); err != nil {
			return fmt.Errorf("export: refusing to write into %s, the top of a git repository that holds no earlier export (%s); %s", abs, OwnershipFile, suggest)
		}
	}
	return nil
}

// homeDirs are the home directories to protect: $HOME and the user's
// home as the system records it.
func homeDirs() []string {
	var out []string
	if h, err := os.UserHomeDir(); err == nil && h != "" {
		out = append(out, h)
	}
	if os.Geteuid() == 0 {
		out = append(out, "/root")
	}
	return out
}

// exportFile is one file an export writes.
type exportFile struct {
	name string
	data []byte
}

// exportStep is what export does in its folder, decided before anything is written.
type exportStep struct {
	dir    string
	write  []exportFile // new or changed
	same   []exportFile // already holding exactly this
	remove []string     // stale files export wrote, unchanged since
	// kept are files export no longer needs but leaves, with why.
	kept []KeptFile
	own  ownership
}

// KeptFile is a file export leaves in place and says why.
type KeptFile struct {
	Path   string
	Reason string
}

// decideExport compares the folder with the files to write and decides
// every write and removal. A file export did not write (or that changed
// since) is refused, all at once, unless force.
func decideExport(dir string, files []exportFile, own ownership, force bool) (*exportStep, error) {
	step := &exportStep{dir: dir, own: own}
	var refused []string
	wanted := map[string]bool{}
	for _, f := range files {
		wanted[f.name] = true
		cur, err := readRegular(filepath.Join(dir, f.name))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			step.write = append(step.write, f)
		case errors.Is(err, errNotRegular):
			if !force {
				refused = append(refused, fmt.Sprintf("%s: not a regular file (a link, folder or device), and export did not write it", f.name))
				continue
			}
			step.write = append(step.write, f)
		case err != nil:
			return nil, fmt.Errorf("export: %w", err)
		case bytes.Equal(cur, f.data):
			step.same = append(step.same, f)
		case own.owns(f.name, cur) || force:
			step.write = append(step.write, f)
		case len(own[f.name]) > 0 && f.name == KustomizationFile:
			refused = append(refused, fmt.Sprintf("%s: changed since export wrote it (keep additions in a kustomization of your own that lists this folder as a resource)", f.name))
		case len(own[f.name]) > 0:
			refused = append(refused, fmt.Sprintf("%s: changed since export wrote it", f.name))
		default:
			refused = append(refused, fmt.Sprintf("%s: exists, and export did not write it", f.name))
		}
	}
	if len(refused) > 0 {
		return nil, fmt.Errorf("export: refusing to overwrite files in %s that are not export's (use --force to overwrite them):\n  %s", dir, strings.Join(refused, "\n  "))
	}
	for _, name := range slices.Sorted(maps.Keys(own)) {
		if !wanted[name] {
			step.decideStale(name)
		}
	}
	return step, nil
}

// decideStale removes a file export wrote and no longer needs, unless the
// user changed it since.
func (s *exportStep) decideStale(name string) {
	cur, err := readRegular(filepath.Join(s.dir, name))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err == nil && slices.Contains(s.own[name], sumOf(cur)):
		s.remove = append(s.remove, name)
	case err == nil && slices.Contains(s.own[name], anySum):
		s.kept = append(s.kept, KeptFile{Path: filepath.Join(s.dir, name), Reason: "listed by an export of an older piraeusctl, which kept no record of what it wrote; left in place: delete it if it is not yours"})
	default:
		s.kept = append(s.kept, KeptFile{Path: filepath.Join(s.dir, name), Reason: "export wrote it and no longer needs it, but it changed since; left in place, and no longer export's"})
	}
}

// apply carries the decisions out. The ownership record is widened first
// (old and new sums of every file touched), so that an interrupted export
// still knows every file it wrote or has yet to remove; it is narrowed to
// exactly the exported files at the end.
func (s *exportStep) apply() error {
	widened := ownership{}
	for name, sums := range s.own {
		widened[name] = slices.Clone(sums)
	}
	final := ownership{}
	for _, f := range slices.Concat(s.write, s.same) {
		widened[f.name] = append(widened[f.name], sumOf(f.data))
		final[f.name] = []string{sumOf(f.data)}
	}
	if len(s.write) > 0 || len(s.remove) > 0 {
		if err := writeOwnership(s.dir, widened); err != nil {
			return fmt.Errorf("export: %w", err)
		}
	}
	for _, f := range s.write {
		if err := writeInDir(s.dir, f.name, f.data); err != nil {
			return fmt.Errorf("export %s: %w", f.name, err)
		}
	}
	for _, name := range s.remove {
		if err := os.Remove(filepath.Join(s.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("export: remove stale %s: %w", name, err)
		}
	}
	return writeOwnership(s.dir, final)
}

// errNotRegular: the path exists but is no regular file.
var errNotRegular = errors.New("not a regular file")

// readRegular reads a regular file without following a symbolic link at
// path and without blocking on anything else.
func readRegular(path string) ([]byte, error) {
	info, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w", path, errNotRegular)
	}
	return os.ReadFile(path)
}
