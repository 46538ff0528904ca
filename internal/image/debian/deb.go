package debian

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Deb is an unpacked .deb: its control file and its data archive.
type Deb struct {
	// Control is the package's DEBIAN/control file as shipped.
	Control []byte
	// Data is the uncompressed data.tar.
	Data []byte
}

// ReadDeb reads a .deb file (an ar archive of debian-binary, control.tar.*
// and data.tar.*).
func ReadDeb(name string) (*Deb, error) {
	raw, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	d, err := ParseDeb(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return d, nil
}

// ParseDeb unpacks a .deb held in memory.
func ParseDeb(raw []byte) (*Deb, error) {
	members, err := readAr(raw)
	if err != nil {
		return nil, err
	}
	if v, ok := members["debian-binary"]; !ok || !strings.HasPrefix(string(v), "2.") {
		return nil, errors.New("not a Debian binary package (debian-binary missing or not 2.x)")
	}
	d := &Deb{}
	controlTar, err := decompressMember(members, "control.tar")
	if err != nil {
		return nil, err
	}
	if d.Control, err = tarFile(controlTar, "control"); err != nil {
		return nil, fmt.Errorf("control.tar: %w", err)
	}
	if d.Data, err = decompressMember(members, "data.tar"); err != nil {
		return nil, err
	}
	return d, nil
}

// readAr splits a common-format ar archive into its members.
func readAr(raw []byte) (map[string][]byte, error) {
	const magic = "!<arch>\n"
	if !bytes.HasPrefix(raw, []byte(magic)) {
		return nil, errors.New("not an ar archive")
	}
	out := map[string][]byte{}
	for off := len(magic); off < len(raw); {
		if off+60 > len(raw) {
			return nil, fmt.Errorf("ar: truncated header at offset %d", off)
		}
		hdr := raw[off : off+60]
		if string(hdr[58:60]) != "`\n" {
			return nil, fmt.Errorf("ar: bad header at offset %d", off)
		}
		name := strings.TrimSuffix(strings.TrimSpace(string(hdr[0:16])), "/")
		size, err := strconv.ParseInt(strings.TrimSpace(string(hdr[48:58])), 10, 64)
		if err != nil || size < 0 || int64(off+60)+size > int64(len(raw)) {
			return nil, fmt.Errorf("ar: member %q: bad size", name)
		}
		start := off + 60
		out[name] = raw[start : start+int(size)]
		off = start + int(size) + int(size%2)
	}
	return out, nil
}

// decompressMember finds prefix (+ .xz, .zst, .gz or nothing) and
// decompresses it.
func decompressMember(members map[string][]byte, prefix string) ([]byte, error) {
	for _, ext := range []string{".xz", ".zst", ".gz", ""} {
		data, ok := members[prefix+ext]
		if !ok {
			continue
		}
		var r io.Reader
		var err error
		switch ext {
		case ".xz":
			r, err = xz.NewReader(bytes.NewReader(data))
		case ".zst":
			var zr *zstd.Decoder
			zr, err = zstd.NewReader(bytes.NewReader(data), zstd.WithDecoderConcurrency(1))
			if err == nil {
				defer zr.Close()
				r = zr
			}
		case ".gz":
			r, err = gzip.NewReader(bytes.NewReader(data))
		default:
			r = bytes.NewReader(data)
		}
		if err != nil {
			return nil, fmt.Errorf("%s%s: %w", prefix, ext, err)
		}
		out, err := io.ReadAll(bufio.NewReaderSize(r, 1<<20))
		if err != nil {
			return nil, fmt.Errorf("%s%s: %w", prefix, ext, err)
		}
		return out, nil
	}
	return nil, fmt.Errorf("no %s member", prefix)
}

// tarFile returns the content of one file of a tar archive ("./name" or "name").
func tarFile(archive []byte, name string) ([]byte, error) {
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil, fmt.Errorf("no %s", name)
		}
		if err != nil {
			return nil, err
		}
		if strings.TrimPrefix(hdr.Name, "./") == name {
			return io.ReadAll(tr)
		}
	}
}
