package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// LoadPlatform reads one platform's image ("linux/amd64" or the Debian
// name "amd64") from an OCI layout that Write made.
func LoadPlatform(layoutDir, platform string) (v1.Image, error) {
	top, err := layout.ImageIndexFromPath(layoutDir)
	if err != nil {
		return nil, err
	}
	want, ok := platforms[platform]
	if ok {
		platform = want.platform.String()
	}
	topm, err := top.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, d := range topm.Manifests {
		if !d.MediaType.IsIndex() {
			continue // SBOM artifacts
		}
		idx, err := top.ImageIndex(d.Digest)
		if err != nil {
			return nil, err
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return nil, err
		}
		for _, m := range im.Manifests {
			if m.Platform != nil && (m.Platform.String() == platform || m.Platform.OS+"/"+m.Platform.Architecture == platform) {
				return idx.Image(m.Digest)
			}
		}
	}
	return nil, fmt.Errorf("%s: no image for platform %s", layoutDir, platform)
}

// ExtractRootfs unpacks an image's layers (flattened) into dir, which must
// be empty or missing: the root file system a container of the image
// sees. Owners are kept when running as root; symlinks are never followed,
// so nothing is written outside dir.
func ExtractRootfs(img v1.Image, dir string) error {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("%s: not empty", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	var dirTimes []*tar.Header
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read image: %w", err)
		}
		if err := extractEntry(dir, hdr, tr); err != nil {
			return fmt.Errorf("/%s: %w", strings.TrimSuffix(hdr.Name, "/"), err)
		}
		if hdr.Typeflag == tar.TypeDir {
			dirTimes = append(dirTimes, hdr)
		}
	}
	for i := len(dirTimes) - 1; i >= 0; i-- { // children first, parents last
		h := dirTimes[i]
		_ = os.Chtimes(filepath.Join(dir, filepath.Clean(h.Name)), h.ModTime, h.ModTime)
	}
	return nil
}

func extractEntry(root string, hdr *tar.Header, r io.Reader) error {
	rel := filepath.Clean(filepath.FromSlash(hdr.Name))
	if rel == "." {
		return nil
	}
	if filepath.IsAbs(rel) || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return errors.New("path outside the root")
	}
	if err := checkParents(root, rel); err != nil {
		return err
	}
	target := filepath.Join(root, rel)
	mode := fs.FileMode(hdr.Mode & 0o777)
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := os.Mkdir(target, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	case tar.TypeReg:
		f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY|syscall.O_NOFOLLOW, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, r); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	case tar.TypeSymlink:
		if err := os.Symlink(hdr.Linkname, target); err != nil {
			return err
		}
		if os.Geteuid() == 0 {
			return os.Lchown(target, hdr.Uid, hdr.Gid)
		}
		return nil
	case tar.TypeLink:
		src := filepath.Clean(filepath.FromSlash(hdr.Linkname))
		if filepath.IsAbs(src) || strings.HasPrefix(src, "..") {
			return fmt.Errorf("hard link to %s outside the root", hdr.Linkname)
		}
		return os.Link(filepath.Join(root, src), target)
	default:
		return fmt.Errorf("unsupported entry type %q", hdr.Typeflag)
	}
	if os.Geteuid() == 0 {
		if err := os.Lchown(target, hdr.Uid, hdr.Gid); err != nil {
			return err
		}
	}
	// After chown, which clears setuid bits.
	if err := os.Chmod(target, mode|specialBits(hdr.Mode)); err != nil {
		return err
	}
	return os.Chtimes(target, time.Time{}, hdr.ModTime)
}

// checkParents refuses a path whose parent directories inside root include
// a symlink, so no write can be redirected.
func checkParents(root, rel string) error {
	parts := strings.Split(filepath.Dir(rel), string(filepath.Separator))
	cur := root
	for _, p := range parts {
		if p == "." {
			continue
		}
		cur = filepath.Join(cur, p)
		fi, err := os.Lstat(cur)
		if err != nil {
			return fmt.Errorf("parent %s: %w", cur, err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("parent %s is a symlink", cur)
		}
	}
	return nil
}

func specialBits(mode int64) fs.FileMode {
	var m fs.FileMode
	if mode&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if mode&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if mode&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}
