package image

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/google/renameio/v2"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/piraeusctl/piraeusctl/internal/image/debian"
)

// layerCacheKeep is how many cached Debian layers per platform are kept
// (the most recently used: work trees and branches may differ).
const layerCacheKeep = 4

// debianLayer returns the platform's Debian layer: from the cache when the
// same code made it before from the same lock entries, drops and
// SOURCE_DATE_EPOCH; else unpacked from the .deb files (downloaded into the
// cache as needed) and then cached. The second bool says it was cached.
func debianLayer(ctx context.Context, opts Options, arch string) (v1.Layer, bool, error) {
	key, err := layerKey(opts, arch)
	if err != nil {
		return nil, false, err
	}
	dir := filepath.Join(opts.CacheDir, "layers")
	file := filepath.Join(dir, "debian-"+arch+"-"+key+".tar.gz")
	if compressed, err := os.ReadFile(file); err == nil {
		now := time.Now()
		_ = os.Chtimes(file, now, now)
		l, err := layerFromCompressed(compressed)
		if err == nil {
			return l, true, nil
		}
		// A damaged cache entry is rebuilt.
	}
	debs, err := opts.Fetcher.Download(ctx, opts.Lock, opts.Lock.For(arch), opts.CacheDir)
	if err != nil {
		return nil, false, err
	}
	base, err := baseTree(ctx, opts.Lock, arch, debs)
	if err != nil {
		return nil, false, err
	}
	l, compressed, err := layerFromTree(base, opts.Stamp.Created)
	if err != nil {
		return nil, false, err
	}
	if err := writeAtomic(dir, file, compressed); err != nil {
		return nil, false, err
	}
	pruneLayers(dir, arch)
	return l, false, nil
}

// layerKey names a Debian layer by everything it is made of: the code that
// makes it (this package's and package debian's sources, the Go toolchain
// and the compression and xz modules), the platform's locked packages, the
// dropped paths and the timestamp.
func layerKey(opts Options, arch string) (string, error) {
	h := sha256.New()
	for _, src := range []fs.FS{sources, debian.Sources} {
		if err := hashFS(h, src); err != nil {
			return "", err
		}
	}
	fmt.Fprintf(h, "go %s\n", runtime.Version())
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, d := range info.Deps {
			if d.Path == "github.com/klauspost/compress" || d.Path == "github.com/ulikunitz/xz" {
				fmt.Fprintf(h, "%s %s\n", d.Path, d.Version)
			}
		}
	}
	fmt.Fprintf(h, "arch %s\nepoch %d\ndrop %s\n", arch, opts.Stamp.Created.Unix(), strings.Join(opts.Lock.Drop, " "))
	for _, p := range opts.Lock.For(arch) {
		fmt.Fprintf(h, "%s %s %s\n", p.Name, p.Version, p.SHA256)
	}
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}

// sources are this package's Go files, for the layer cache key.
//
//go:embed *.go
var sources embed.FS

func hashFS(h io.Writer, fsys fs.FS) error {
	names, err := fs.Glob(fsys, "*.go")
	if err != nil {
		return err
	}
	for _, n := range names { // fs.Glob returns them sorted
		data, err := fs.ReadFile(fsys, n)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %d\n", n, len(data))
		h.Write(data)
	}
	return nil
}

func writeAtomic(dir, file string, data []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return renameio.WriteFile(file, data, 0o644)
}

// pruneLayers keeps the layerCacheKeep most recently used layers of a
// platform (a cache hit refreshes the file's time).
func pruneLayers(dir, arch string) {
	files, _ := filepath.Glob(filepath.Join(dir, "debian-"+arch+"-*.tar.gz"))
	type entry struct {
		name string
		used time.Time
	}
	var entries []entry
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil {
			entries = append(entries, entry{f, fi.ModTime()})
		}
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].used.After(entries[j].used) })
	for i := layerCacheKeep; i < len(entries); i++ {
		_ = os.Remove(entries[i].name)
	}
}
