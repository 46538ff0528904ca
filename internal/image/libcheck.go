package image

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"fmt"
	"path"
	"sort"
	"strings"
)

// triplets are the multiarch directories of the Debian architectures.
var triplets = map[string]string{"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}

// checkLibraries proves that every dynamically linked ELF file of the tree
// finds its interpreter and each DT_NEEDED library the way glibc's loader
// of Debian searches without an ld.so.cache: RPATH/RUNPATH, then
// /lib/TRIPLET, /usr/lib/TRIPLET, /lib, /usr/lib. It reports every problem.
func (t *tree) checkLibraries(arch string) error {
	triplet, ok := triplets[arch]
	if !ok {
		return fmt.Errorf("no multiarch triplet for %s", arch)
	}
	system := []string{"lib/" + triplet, "usr/lib/" + triplet, "lib", "usr/lib"}
	t.fillParents()
	var problems []string
	for _, name := range t.paths() {
		n := t.nodes[name]
		if n.typ != tar.TypeReg || !bytes.HasPrefix(n.data, []byte(elf.ELFMAG)) {
			continue
		}
		f, err := elf.NewFile(bytes.NewReader(n.data))
		if err != nil {
			continue // not a loadable ELF (e.g. a truncated test fixture)
		}
		problems = append(problems, t.checkELF(name, f, system)...)
		f.Close()
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("unresolved shared libraries:\n  %s", strings.Join(problems, "\n  "))
	}
	return nil
}

func (t *tree) checkELF(name string, f *elf.File, system []string) []string {
	var problems []string
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		buf := make([]byte, p.Filesz)
		if _, err := p.ReadAt(buf, 0); err == nil {
			interp := strings.TrimRight(string(buf), "\x00")
			if _, ok := t.resolve(strings.TrimPrefix(interp, "/")); !ok {
				problems = append(problems, fmt.Sprintf("/%s: interpreter %s not found", name, interp))
			}
		}
	}
	needed, err := f.ImportedLibraries()
	if err != nil {
		return append(problems, fmt.Sprintf("/%s: %v", name, err))
	}
	dirs := t.runpath(name, f)
	dirs = append(dirs, system...)
	for _, lib := range needed {
		if !t.findLibrary(lib, dirs) {
			problems = append(problems, fmt.Sprintf("/%s: %s not found", name, lib))
		}
	}
	return problems
}

// runpath returns the RPATH and RUNPATH directories with $ORIGIN expanded.
func (t *tree) runpath(name string, f *elf.File) []string {
	var dirs []string
	for _, tag := range []elf.DynTag{elf.DT_RPATH, elf.DT_RUNPATH} {
		vals, _ := f.DynString(tag)
		for _, v := range vals {
			for _, d := range strings.Split(v, ":") {
				d = strings.ReplaceAll(strings.ReplaceAll(d, "${ORIGIN}", "$ORIGIN"), "$ORIGIN", "/"+path.Dir(name))
				dirs = append(dirs, strings.TrimPrefix(path.Clean(d), "/"))
			}
		}
	}
	return dirs
}

func (t *tree) findLibrary(lib string, dirs []string) bool {
	if strings.Contains(lib, "/") {
		_, ok := t.resolve(strings.TrimPrefix(lib, "/"))
		return ok
	}
	for _, d := range dirs {
		if _, ok := t.resolve(path.Join(d, lib)); ok {
			return true
		}
	}
	return false
}

// resolve follows symlinks (relative or absolute, within the tree) and
// returns the regular file a path names.
func (t *tree) resolve(p string) (*node, bool) {
	for hops := 0; hops < 40; hops++ {
		next, n, ok := t.step(p)
		if !ok {
			return nil, false
		}
		if n != nil {
			return n, n.typ == tar.TypeReg || n.typ == tar.TypeLink
		}
		p = next
	}
	return nil, false
}

// step resolves the first symlink on p: it returns the rewritten path, or
// the final node when p has no symlink.
func (t *tree) step(p string) (string, *node, bool) {
	parts := strings.Split(path.Clean(p), "/")
	for i := range parts {
		prefix := strings.Join(parts[:i+1], "/")
		n, ok := t.nodes[prefix]
		if !ok {
			return "", nil, false
		}
		if n.typ == tar.TypeSymlink {
			target := n.link
			if !path.IsAbs(target) {
				target = path.Join(path.Dir(prefix), target)
			}
			rest := strings.Join(parts[i+1:], "/")
			return strings.TrimPrefix(path.Join("/"+target, rest), "/"), nil, true
		}
		if i == len(parts)-1 {
			return "", n, true
		}
	}
	return "", nil, false
}
