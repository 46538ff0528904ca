package image

import (
	"archive/tar"
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCanonical(t *testing.T) {
	for in, want := range map[string]string{
		"./":                      "",
		"./bin/ls":                "usr/bin/ls",
		"./sbin/":                 "usr/sbin",
		"./lib64/ld.so":           "usr/lib64/ld.so",
		"./usr/bin/x":             "usr/bin/x",
		"./etc/lvm/lvm.conf":      "etc/lvm/lvm.conf",
		"./binary/x":              "binary/x",
		"../../etc/passwd":        "etc/passwd",
		"./lib/x86_64-linux-gnu/": "usr/lib/x86_64-linux-gnu",
	} {
		assert.Equal(t, want, canonical(in), in)
	}
}

func TestRelinkSymlink(t *testing.T) {
	for _, tc := range []struct{ name, target, want string }{
		{"./usr/bin/mkfs.ext4", "mke2fs", "mke2fs"},                                                    // not moved
		{"./sbin/mkfs.ext4", "mke2fs", "mke2fs"},                                                       // moved with its target
		{"./sbin/lvm-link", "../usr/sbin/lvm", "lvm"},                                                  // target under /usr already
		{"./lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/ld.so", "/lib/x86_64-linux-gnu/ld.so"}, // absolute stays
		{"./lib/x86_64-linux-gnu/libfoo.so.1", "libfoo.so.1.2", "libfoo.so.1.2"},
		{"./bin/x", "../etc/x", "../../etc/x"},
	} {
		assert.Equal(t, tc.want, relinkSymlink(tc.name, tc.target), tc.name)
	}
}

type entry struct {
	name, link string
	typ        byte
	mode       int64
	body       string
}

func debTar(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode, Size: int64(len(e.body)),
			Uname: "root", Gname: "root", ModTime: time.Date(2023, 1, 2, 3, 4, 5, 0, time.UTC)}
		if e.typ != tar.TypeReg {
			hdr.Size = 0
		}
		require.NoError(t, tw.WriteHeader(hdr))
		_, err := tw.Write([]byte(e.body))
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	return b.Bytes()
}

func readTar(t *testing.T, data []byte) []*tar.Header {
	t.Helper()
	var out []*tar.Header
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		require.NoError(t, err)
		out = append(out, hdr)
	}
}

func TestTreeTar(t *testing.T) {
	tr := newTree()
	require.NoError(t, tr.addTar(debTar(t,
		entry{name: "./", typ: tar.TypeDir, mode: 0o755},
		entry{name: "./sbin/", typ: tar.TypeDir, mode: 0o755},
		entry{name: "./sbin/mke2fs", typ: tar.TypeReg, mode: 0o755, body: "ELF"},
		// The link sorts before its target: the first path carries the content.
		entry{name: "./sbin/e2label", typ: tar.TypeLink, link: "./sbin/mke2fs"},
		entry{name: "./sbin/mkfs.ext4", typ: tar.TypeSymlink, link: "mke2fs"},
		entry{name: "./bin/mount", typ: tar.TypeReg, mode: 0o4755, body: "suid"},
	), "e2fsprogs"))
	// A second package may ship the same directory and identical files.
	require.NoError(t, tr.addTar(debTar(t,
		entry{name: "./sbin/", typ: tar.TypeDir, mode: 0o755},
		entry{name: "./usr/sbin/mke2fs", typ: tar.TypeReg, mode: 0o755, body: "ELF"},
	), "other"))
	require.NoError(t, tr.mergeUsr())
	epoch := time.Unix(1700000000, 0)
	out, err := tr.tar(epoch)
	require.NoError(t, err)

	var got []string
	for _, h := range readTar(t, out) {
		assert.True(t, h.ModTime.Equal(epoch), h.Name)
		assert.Empty(t, h.Uname, h.Name)
		assert.Empty(t, h.Gname, h.Name)
		got = append(got, string(h.Typeflag)+" "+h.Name+" "+h.Linkname)
	}
	assert.Equal(t, []string{
		"2 bin usr/bin",
		"2 lib usr/lib",
		"2 sbin usr/sbin",
		"5 usr/ ",
		"5 usr/bin/ ",
		"0 usr/bin/mount ",
		"5 usr/lib/ ",
		"5 usr/sbin/ ",
		"0 usr/sbin/e2label ",
		"1 usr/sbin/mke2fs usr/sbin/e2label",
		"2 usr/sbin/mkfs.ext4 mke2fs",
	}, got)
	hdrs := readTar(t, out)
	assert.Equal(t, int64(0o4755), hdrs[5].Mode, "setuid kept")

	again, err := tr.tar(epoch)
	require.NoError(t, err)
	assert.Equal(t, out, again, "deterministic")
}

func TestTreeConflicts(t *testing.T) {
	tr := newTree()
	require.NoError(t, tr.addTar(debTar(t, entry{name: "./bin/sh", typ: tar.TypeReg, mode: 0o755, body: "dash"}), "dash"))
	err := tr.addTar(debTar(t, entry{name: "./usr/bin/sh", typ: tar.TypeReg, mode: 0o755, body: "bash"}), "bash")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "/usr/bin/sh: shipped differently by dash and bash")

	tr = newTree()
	require.NoError(t, tr.addTar(debTar(t, entry{name: "./usr/sbin/x", typ: tar.TypeLink, link: "./usr/sbin/missing"}), "p"))
	_, err = tr.tar(time.Unix(0, 0))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "hard link to /usr/sbin/missing")

	tr = newTree()
	err = tr.addTar(debTar(t, entry{name: "./dev/null", typ: tar.TypeChar}), "p")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "unsupported tar entry type")
}
