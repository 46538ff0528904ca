package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/piraeusctl/piraeusctl/internal/image"
	"github.com/piraeusctl/piraeusctl/internal/image/debian"
	"github.com/piraeusctl/piraeusctl/render"
)

// source is the repository the image labels and SBOM name.
const source = "https://github.com/piraeusctl/piraeusctl"

// binaryFlags collects -binary ARCH=PATH.
type binaryFlags map[string]string

func (b binaryFlags) String() string { return fmt.Sprint(map[string]string(b)) }

func (b binaryFlags) Set(v string) error {
	arch, path, ok := strings.Cut(v, "=")
	if !ok || arch == "" || path == "" {
		return fmt.Errorf("%q: expected ARCH=PATH", v)
	}
	b[arch] = path
	return nil
}

func defaultCacheDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "piraeusctl", "image")
	}
	return filepath.Join(os.TempDir(), "piraeusctl-image-cache")
}

func runBuild(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("build", flag.ContinueOnError)
	lockFile := fs.String("lock", "hack/image/debian.lock", "Debian package lock")
	packages := fs.String("packages", "hack/image/packages.txt", "package list the lock must have been resolved from")
	dir := fs.String("dir", "bin/image", "output directory")
	cache := fs.String("cache", defaultCacheDir(), "download cache (outside the work tree)")
	version := fs.String("version", "", "piraeusctl version: the image tag (as stamped into the binaries)")
	revision := fs.String("revision", "", "source revision (git commit)")
	epoch := fs.Int64("epoch", 0, "SOURCE_DATE_EPOCH: seconds since 1970 for every timestamp in the image")
	binaries := binaryFlags{}
	fs.Var(binaries, "binary", "ARCH=PATH of a static piraeusctl for a platform (amd64, arm64); repeatable")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *version == "" || *revision == "" {
		return fmt.Errorf("-version and -revision are required")
	}
	lock, err := readLock(*lockFile, *packages)
	if err != nil {
		return err
	}
	ref, err := render.DefaultImage(render.ImagePiraeusctl, *version)
	if err != nil {
		return err
	}
	repository, _, _ := strings.Cut(ref, ":"+*version)
	start := time.Now()
	img, err := image.Build(ctx, image.Options{
		Lock:     lock,
		Stamp:    image.Stamp{Version: *version, Revision: *revision, Source: source, Created: time.Unix(*epoch, 0).UTC()},
		Binaries: binaries,
		CacheDir: *cache,
		Fetcher:  &debian.Fetcher{Client: httpClient()},
		Log:      log,
	})
	if err != nil {
		return err
	}
	w, err := img.Write(*dir, repository)
	if err != nil {
		return err
	}
	log.Info("image written", "dir", *dir, "took", time.Since(start).Round(time.Millisecond))
	return printWritten(stdout, *dir, w)
}

// readLock reads the lock and checks it was resolved from the package list.
func readLock(lockFile, packages string) (*debian.Lock, error) {
	lock, err := debian.ReadLockFile(lockFile)
	if err != nil {
		return nil, err
	}
	req, err := debian.ReadRequestFile(packages)
	if err != nil {
		return nil, err
	}
	if !lock.Matches(req) {
		return nil, fmt.Errorf("%s was not resolved from %s: run `make image-lock`", lockFile, packages)
	}
	return lock, nil
}

func printWritten(out io.Writer, dir string, w *image.Written) error {
	fmt.Fprintf(out, "image    %s\n", w.Ref)
	fmt.Fprintf(out, "index    %s  %s\n", w.Index, filepath.Join(dir, image.LayoutDir))
	for _, p := range w.Platforms {
		fmt.Fprintf(out, "%-8s %s  %s  %s\n", p.Platform, p.Manifest, filepath.Join(dir, p.Tarball), filepath.Join(dir, p.SBOMFile))
	}
	return nil
}

func runRootfs(_ context.Context, args []string, log *slog.Logger) error {
	fs := flag.NewFlagSet("rootfs", flag.ContinueOnError)
	layoutDir := fs.String("layout", "bin/image/"+image.LayoutDir, "OCI layout written by build")
	platform := fs.String("platform", "amd64", "platform (amd64, arm64 or linux/arm64/v8)")
	dir := fs.String("dir", "", "empty directory to unpack the root file system into")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return fmt.Errorf("-dir is required")
	}
	img, err := image.LoadPlatform(*layoutDir, *platform)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := image.ExtractRootfs(img, *dir); err != nil {
		return err
	}
	log.Info("root file system unpacked", "dir", *dir, "took", time.Since(start).Round(time.Millisecond))
	return nil
}
