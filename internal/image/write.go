package image

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Names of what Write puts in its directory.
const (
	LayoutDir  = "oci"    // the OCI image layout
	DigestFile = "digest" // the index digest, one line
)

// TarballName is the `docker load` tarball of one platform.
func TarballName(p v1.Platform) string {
	return "piraeusctl-" + p.OS + "-" + p.Architecture + ".tar"
}

// SBOMName is the SPDX file of one platform.
func SBOMName(p v1.Platform) string {
	return "sbom-" + p.OS + "-" + p.Architecture + ".spdx.json"
}

// Written says where Write put the image and what its digests are.
type Written struct {
	Index     v1.Hash
	Ref       string // repository:version, the tag of the tarballs and the layout
	Platforms []WrittenPlatform
}

// WrittenPlatform is one platform's manifest digest and files.
type WrittenPlatform struct {
	Platform string
	Manifest v1.Hash
	SBOM     v1.Hash // digest of the SPDX blob
	Tarball  string
	SBOMFile string
}

// Write puts the image in dir: the OCI layout (its one entry the index,
// tagged with the version), one `docker load` tarball and one SBOM file per
// platform, and the index digest. repository is the image name the
// tarballs are tagged with (REGISTRY/piraeusctl).
func (img *Image) Write(dir, repository string) (*Written, error) {
	ref, err := name.NewTag(repository + ":" + img.Stamp.Version)
	if err != nil {
		return nil, fmt.Errorf("image reference: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	lp := filepath.Join(dir, LayoutDir)
	if err := os.RemoveAll(lp); err != nil {
		return nil, err
	}
	p, err := layout.Write(lp, empty.Index)
	if err != nil {
		return nil, err
	}
	if err := p.AppendIndex(img.Index, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": img.Stamp.Version,
	})); err != nil {
		return nil, fmt.Errorf("write OCI layout: %w", err)
	}
	out := &Written{Ref: ref.String()}
	if out.Index, err = img.Index.Digest(); err != nil {
		return nil, err
	}
	for _, pl := range img.Platforms {
		w, err := writePlatform(dir, ref, pl)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", pl, err)
		}
		out.Platforms = append(out.Platforms, w)
	}
	if err := os.WriteFile(filepath.Join(dir, DigestFile), []byte(out.Index.String()+"\n"), 0o644); err != nil {
		return nil, err
	}
	return out, nil
}

func writePlatform(dir string, ref name.Tag, pl *Platform) (WrittenPlatform, error) {
	w := WrittenPlatform{Platform: pl.String(), Tarball: TarballName(pl.Platform), SBOMFile: SBOMName(pl.Platform), SBOM: sha256Digest(pl.SBOM)}
	var err error
	if w.Manifest, err = pl.Image.Digest(); err != nil {
		return w, err
	}
	if err := tarball.WriteToFile(filepath.Join(dir, w.Tarball), ref, pl.Image); err != nil {
		return w, fmt.Errorf("docker tarball: %w", err)
	}
	return w, os.WriteFile(filepath.Join(dir, w.SBOMFile), pl.SBOM, 0o644)
}
