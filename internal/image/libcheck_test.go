package image

import (
	"archive/tar"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCheckLibraries uses a real dynamically linked program of this
// (Debian amd64) machine: its libraries resolve through the merged-/usr
// symlinks and the multiarch directory, and a missing one is named.
func TestCheckLibraries(t *testing.T) {
	ls, err := os.ReadFile("/usr/bin/ls")
	require.NoError(t, err)
	libs := map[string][]byte{}
	for _, name := range []string{"libc.so.6", "libselinux.so.1", "libpcre2-8.so.0"} {
		p, err := filepath.EvalSymlinks(filepath.Join("/usr/lib/x86_64-linux-gnu", name))
		require.NoError(t, err)
		libs[name], err = os.ReadFile(p)
		require.NoError(t, err)
	}
	build := func(skip string) *tree {
		tr := newTree()
		tr.put("usr/bin/ls", 0o755, ls)
		tr.put("usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", 0o755, []byte("loader"))
		tr.nodes["usr/lib64/ld-linux-x86-64.so.2"] = &node{typ: tar.TypeSymlink, mode: 0o777, link: "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"}
		for name, data := range libs {
			if name != skip {
				tr.put("usr/lib/x86_64-linux-gnu/"+name, 0o644, data)
			}
		}
		require.NoError(t, tr.mergeUsr())
		return tr
	}
	require.NoError(t, build("").checkLibraries("amd64"))

	err = build("libselinux.so.1").checkLibraries("amd64")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "/usr/bin/ls: libselinux.so.1 not found")

	tr := build("")
	delete(tr.nodes, "usr/lib64/ld-linux-x86-64.so.2")
	err = tr.checkLibraries("amd64")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "/usr/bin/ls: interpreter /lib64/ld-linux-x86-64.so.2 not found")
}
