package image

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"path"
	"slices"
	"sort"
	"strings"
	"time"
)

// mergedDirs are the top-level directories that a merged-/usr system keeps
// only as symlinks into /usr (as debootstrap lays out Debian since 12).
var mergedDirs = []string{"bin", "sbin", "lib", "lib32", "lib64", "libx32"}

// tree is a file system being assembled for one layer: clean relative paths
// ("usr/bin/lvm") to entries.
type tree struct {
	nodes map[string]*node
}

type node struct {
	typ      byte   // tar.TypeReg, TypeDir, TypeSymlink, TypeLink
	mode     int64  // permission and setuid/setgid/sticky bits
	uid, gid int    // numeric owner as the package ships it
	data     []byte // regular files
	link     string // symlink target as written, or hard link target path
	owner    string // package (or "piraeusctl") that put it there, for errors
}

func newTree() *tree { return &tree{nodes: map[string]*node{}} }

// canonical maps a path as a package ships it ("./bin/ls", "sbin/") to its
// place in the merged-/usr tree ("usr/bin/ls"); "" is the root.
func canonical(name string) string {
	p := path.Clean("/" + name)[1:]
	first, _, _ := strings.Cut(p, "/")
	if slices.Contains(mergedDirs, first) {
		return "usr/" + p
	}
	return p
}

// addTar adds every entry of a package's data.tar.
func (t *tree) addTar(data []byte, owner string) error {
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: data.tar: %w", owner, err)
		}
		n := &node{typ: hdr.Typeflag, mode: hdr.Mode & 0o7777, uid: hdr.Uid, gid: hdr.Gid, owner: owner}
		name := canonical(hdr.Name)
		switch hdr.Typeflag {
		case tar.TypeReg:
			if n.data, err = io.ReadAll(tr); err != nil {
				return fmt.Errorf("%s: %s: %w", owner, hdr.Name, err)
			}
		case tar.TypeDir:
		case tar.TypeSymlink:
			n.link = relinkSymlink(hdr.Name, hdr.Linkname)
		case tar.TypeLink:
			n.link = canonical(hdr.Linkname)
		default:
			return fmt.Errorf("%s: %s: unsupported tar entry type %q", owner, hdr.Name, hdr.Typeflag)
		}
		if err := t.add(name, n); err != nil {
			return err
		}
	}
}

// relinkSymlink keeps a relative symlink pointing at the same file after
// its own directory moved under /usr.
func relinkSymlink(name, target string) string {
	if path.IsAbs(target) {
		return target
	}
	orig := path.Clean("/" + name)[1:]
	moved := canonical(name)
	if orig == moved {
		return target
	}
	abs := canonical(path.Join(path.Dir(orig), target))
	rel, err := relPath(path.Dir(moved), abs)
	if err != nil {
		return "/" + abs
	}
	return rel
}

// relPath is filepath.Rel for slash-separated clean relative paths.
func relPath(from, to string) (string, error) {
	f := strings.Split(from, "/")
	tt := strings.Split(to, "/")
	if from == "." || from == "" {
		f = nil
	}
	i := 0
	for i < len(f) && i < len(tt) && f[i] == tt[i] {
		i++
	}
	parts := make([]string, 0, len(f)-i+len(tt)-i)
	for range f[i:] {
		parts = append(parts, "..")
	}
	parts = append(parts, tt[i:]...)
	if len(parts) == 0 {
		return "", fmt.Errorf("%s is %s", to, from)
	}
	return strings.Join(parts, "/"), nil
}

// add puts one entry in the tree. The same directory may come from many
// packages; a file may come twice only with the same content.
func (t *tree) add(name string, n *node) error {
	if name == "" {
		return nil // the root directory
	}
	old, ok := t.nodes[name]
	if !ok {
		t.nodes[name] = n
		return nil
	}
	if old.typ == tar.TypeDir && n.typ == tar.TypeDir {
		return nil
	}
	if old.typ == n.typ && old.mode == n.mode && old.link == n.link && bytes.Equal(old.data, n.data) {
		return nil
	}
	return fmt.Errorf("/%s: shipped differently by %s and %s", name, old.owner, n.owner)
}

// put adds or replaces a file of our own (configuration the image sets).
func (t *tree) put(name string, mode int64, data []byte) {
	t.nodes[name] = &node{typ: tar.TypeReg, mode: mode, data: data, owner: "piraeusctl"}
}

// drop removes name and everything below it; false if nothing was there.
func (t *tree) drop(name string) bool {
	found := false
	for p := range t.nodes {
		if p == name || strings.HasPrefix(p, name+"/") {
			delete(t.nodes, p)
			found = true
		}
	}
	return found
}

// mergeUsr adds the top-level symlinks into /usr for every merged
// directory that has content (bin, sbin and lib always).
func (t *tree) mergeUsr() error {
	t.fillParents()
	for _, d := range mergedDirs {
		if _, ok := t.nodes[d]; ok {
			return fmt.Errorf("/%s: expected to become a symlink to usr/%s", d, d)
		}
		if _, ok := t.nodes["usr/"+d]; ok || d == "bin" || d == "sbin" || d == "lib" {
			t.nodes["usr/"+d] = dirOr(t.nodes["usr/"+d])
			t.nodes[d] = &node{typ: tar.TypeSymlink, mode: 0o777, link: "usr/" + d, owner: "piraeusctl"}
		}
	}
	return nil
}

func dirOr(n *node) *node {
	if n != nil {
		return n
	}
	return &node{typ: tar.TypeDir, mode: 0o755, owner: "piraeusctl"}
}

// fillParents adds missing parent directories (root-owned, 0755).
func (t *tree) fillParents() {
	for name := range t.nodes {
		for d := path.Dir(name); d != "."; d = path.Dir(d) {
			if _, ok := t.nodes[d]; ok {
				break
			}
			t.nodes[d] = &node{typ: tar.TypeDir, mode: 0o755, owner: "piraeusctl"}
		}
	}
}

// paths returns every path, parents before children.
func (t *tree) paths() []string {
	out := make([]string, 0, len(t.nodes))
	for name := range t.nodes {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// tar writes the tree as a deterministic tar: sorted paths, every time set
// to mtime, no user or group names. Hard links point at the first path of
// their group in that order, which carries the content.
func (t *tree) tar(mtime time.Time) ([]byte, error) {
	t.fillParents()
	leaders, err := t.hardlinkLeaders()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.Grow(t.size())
	tw := tar.NewWriter(&buf)
	for _, name := range t.paths() {
		n := t.nodes[name]
		hdr := &tar.Header{Name: name, Mode: n.mode, Uid: n.uid, Gid: n.gid, ModTime: mtime, Typeflag: n.typ, Format: tar.FormatPAX}
		body := n.data
		switch n.typ {
		case tar.TypeDir:
			hdr.Name += "/"
		case tar.TypeSymlink:
			hdr.Linkname = n.link
		case tar.TypeLink, tar.TypeReg:
			leader, target := leaders[name], name
			if n.typ == tar.TypeLink {
				target = n.link
			}
			content := t.nodes[target]
			hdr.Mode, hdr.Uid, hdr.Gid = content.mode, content.uid, content.gid
			if leader != "" && leader != name {
				hdr.Typeflag, hdr.Linkname, body = tar.TypeLink, leader, nil
			} else {
				hdr.Typeflag, body = tar.TypeReg, content.data
			}
		}
		hdr.Size = int64(len(body))
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("/%s: %w", name, err)
		}
		if _, err := tw.Write(body); err != nil {
			return nil, fmt.Errorf("/%s: %w", name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// size estimates the tar's size: contents plus a header block per entry.
func (t *tree) size() int {
	n := 1024
	for _, e := range t.nodes {
		n += 1024 + len(e.data)
	}
	return n
}

// hardlinkLeaders maps every member of a hard-link group (a file and the
// links to it) to the group's first path in sorted order.
func (t *tree) hardlinkLeaders() (map[string]string, error) {
	groups := map[string][]string{}
	for name, n := range t.nodes {
		if n.typ != tar.TypeLink {
			continue
		}
		target, ok := t.nodes[n.link]
		if !ok || target.typ != tar.TypeReg {
			return nil, fmt.Errorf("/%s: hard link to /%s, which is not a regular file of the image", name, n.link)
		}
		groups[n.link] = append(groups[n.link], name)
	}
	leaders := map[string]string{}
	for target, links := range groups {
		members := append(links, target)
		sort.Strings(members)
		for _, m := range members {
			leaders[m] = members[0]
		}
	}
	return leaders, nil
}
