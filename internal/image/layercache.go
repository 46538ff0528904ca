package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// layerCacheKeep is how many cached Debian layers per platform are kept
// (the most recently used: work trees and branches may differ).
const layerCacheKeep = 4

// debianLayer returns the platform's Debian layer: from the cache when
// this very builder made it before from the same lock entries, drops and
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

// layerKey names a Debian layer by everything it is made of: the builder
// itself (its executable), the platform's locked packages, the dropped
// paths and the timestamp.
func layerKey(opts Options, arch string) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("locate the builder for the layer cache key: %w", err)
	}
	f, err := os.Open(exe)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	fmt.Fprintf(h, "\narch %s\nepoch %d\ndrop %s\n", arch, opts.Stamp.Created.Unix(), strings.Join(opts.Lock.Drop, " "))
	for _, p := range opts.Lock.For(arch) {
		fmt.Fprintf(h, "%s %s %s\n", p.Name, p.Version, p.SHA256)
	}
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}

func writeAtomic(dir, file string, data []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".layer-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file)
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
