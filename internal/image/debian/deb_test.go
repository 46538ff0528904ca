package debian

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ulikunitz/xz"
)

func tarOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, name := range []string{"./", "./control", "./usr/bin/tool"} {
		body, ok := files[name]
		if !ok {
			continue
		}
		hdr := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}
		if name == "./" {
			hdr.Typeflag, hdr.Mode = tar.TypeDir, 0o755
		}
		require.NoError(t, tw.WriteHeader(hdr))
		_, err := tw.Write([]byte(body))
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	return b.Bytes()
}

func compress(t *testing.T, ext string, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	var w io.WriteCloser
	var err error
	switch ext {
	case ".xz":
		w, err = xz.NewWriter(&b)
	case ".zst":
		w, err = zstd.NewWriter(&b)
	case ".gz":
		w = gzip.NewWriter(&b)
	default:
		return data
	}
	require.NoError(t, err)
	_, err = w.Write(data)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return b.Bytes()
}

// arOf writes a common-format ar archive, odd-sized members padded.
func arOf(members ...[2]string) []byte {
	var b bytes.Buffer
	b.WriteString("!<arch>\n")
	for _, m := range members {
		fmt.Fprintf(&b, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", m[0], 0, 0, 0, "100644", len(m[1]))
		b.WriteString(m[1])
		if len(m[1])%2 == 1 {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

func TestParseDeb(t *testing.T) {
	control := "Package: tool\nVersion: 1.0-1\n"
	for _, ext := range []string{".xz", ".zst", ".gz", ""} {
		raw := arOf(
			[2]string{"debian-binary", "2.0\n"},
			[2]string{"control.tar.gz", string(compress(t, ".gz", tarOf(t, map[string]string{"./": "", "./control": control})))},
			[2]string{"data.tar" + ext, string(compress(t, ext, tarOf(t, map[string]string{"./usr/bin/tool": "odd"})))},
		)
		d, err := ParseDeb(raw)
		require.NoError(t, err, ext)
		assert.Equal(t, control, string(d.Control), ext)
		body, err := tarFile(d.Data, "usr/bin/tool")
		require.NoError(t, err, ext)
		assert.Equal(t, "odd", string(body), ext)
	}
}

func TestParseDebErrors(t *testing.T) {
	ctl := string(compress(t, ".gz", tarOf(t, map[string]string{"./control": "Package: x\n"})))
	for name, tc := range map[string]struct {
		raw  []byte
		want string
	}{
		"not ar":       {[]byte("PK\x03\x04"), "not an ar archive"},
		"truncated":    {[]byte("!<arch>\ndebian-binary   0"), "ar: truncated header"},
		"bad size":     {append(arOf([2]string{"debian-binary", "2.0\n"}), []byte("control.tar.gz  0           0     0     100644  99999999  `\n")...), `ar: member "control.tar.gz": bad size`},
		"no version":   {arOf([2]string{"control.tar.gz", ctl}), "not a Debian binary package"},
		"no data":      {arOf([2]string{"debian-binary", "2.0\n"}, [2]string{"control.tar.gz", ctl}), "no data.tar member"},
		"bad xz":       {arOf([2]string{"debian-binary", "2.0\n"}, [2]string{"control.tar.gz", ctl}, [2]string{"data.tar.xz", "garbage"}), "data.tar.xz"},
		"no control":   {arOf([2]string{"debian-binary", "2.0\n"}, [2]string{"control.tar.gz", string(compress(t, ".gz", tarOf(t, map[string]string{"./": ""})))}), "control.tar: no control"},
		"debian-bin 3": {arOf([2]string{"debian-binary", "3.0\n"}), "not a Debian binary package"},
	} {
		_, err := ParseDeb(tc.raw)
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), tc.want, name)
	}
}

// FuzzParseDeb: no input makes the .deb reader panic or hang.
func FuzzParseDeb(f *testing.F) {
	f.Add(arOf([2]string{"debian-binary", "2.0\n"}))
	f.Add([]byte("!<arch>\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		_, _ = ParseDeb(raw)
	})
}

// FuzzParseLock: the lock parser rejects or accepts, never panics, and
// what it accepts encodes back to something it reads the same.
func FuzzParseLock(f *testing.F) {
	f.Add(string(testLock().Encode()))
	f.Add("package\tamd64\n")
	f.Fuzz(func(t *testing.T, in string) {
		l, err := ParseLock(bytes.NewReader([]byte(in)), "fuzz")
		if err != nil {
			return
		}
		back, err := ParseLock(bytes.NewReader(l.Encode()), "fuzz")
		require.NoError(t, err)
		assert.Equal(t, l.Packages, back.Packages)
	})
}
