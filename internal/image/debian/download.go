package debian

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sync/errgroup"
)

// DownloadParallel is how many .deb files are downloaded at once.
const DownloadParallel = 4

// Download makes sure every package is in cacheDir (by its sha256 and file
// name) and returns the paths in the order of pkgs. A cached file is
// re-verified on every use; a download is verified before it is kept.
func (f *Fetcher) Download(ctx context.Context, l *Lock, pkgs []Locked, cacheDir string) ([]string, error) {
	dir := filepath.Join(cacheDir, "debs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	paths := make([]string, len(pkgs))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(DownloadParallel)
	for i, p := range pkgs {
		paths[i] = filepath.Join(dir, p.SHA256[:16]+"_"+p.Basename())
		g.Go(func() error { return f.ensure(ctx, l, p, paths[i]) })
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return paths, nil
}

func (f *Fetcher) ensure(ctx context.Context, l *Lock, p Locked, dst string) error {
	if got, err := fileSHA256(dst); err == nil && got == p.SHA256 {
		return nil
	}
	a, ok := l.Archive(p.Archive)
	if !ok {
		return fmt.Errorf("package %s: unknown archive %q", p.Name, p.Archive)
	}
	url := strings.TrimSuffix(a.URL, "/") + "/" + p.Filename
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".download-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if err := f.copyURL(ctx, url, tmp); err != nil {
		return err
	}
	got, err := fileSHA256(tmp.Name())
	if err != nil {
		return err
	}
	if got != p.SHA256 {
		return fmt.Errorf("%s: sha256 %s, the lock pins %s", url, got, p.SHA256)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

func (f *Fetcher) copyURL(ctx context.Context, url string, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	client := f.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		hint := ""
		if resp.StatusCode == http.StatusNotFound {
			hint = " (the archive no longer serves this version: run `make image-lock` to pin the current ones)"
		}
		return fmt.Errorf("GET %s: %s%s", url, resp.Status, hint)
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}

func fileSHA256(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
