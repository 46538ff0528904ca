package image

import (
	"encoding/json"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// SBOMMediaType is the media type of the SBOM blobs and the artifactType of
// the manifests that carry them.
const SBOMMediaType = "application/spdx+json"

// emptyConfig is the OCI empty descriptor's content (image-spec 1.1), the
// config of artifact manifests.
var emptyConfig = []byte("{}")

// artifactPlatform marks the SBOM manifests in the index as no platform's
// image, so runtimes never pick them (as BuildKit marks its attestations).
var artifactPlatform = v1.Platform{OS: "unknown", Architecture: "unknown"}

// sbomArtifact is an OCI 1.1 artifact manifest holding one SPDX document,
// whose subject is the platform image it describes.
type sbomArtifact struct {
	manifest []byte
	sbom     []byte
}

// newSBOMArtifact attaches sbom to subject.
func newSBOMArtifact(subject v1.Image, sbom []byte, title string) (v1.Image, error) {
	sd, err := partial.Descriptor(subject)
	if err != nil {
		return nil, err
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  SBOMMediaType,
		Config: v1.Descriptor{MediaType: "application/vnd.oci.empty.v1+json",
			Size: int64(len(emptyConfig)), Digest: sha256Digest(emptyConfig), Data: emptyConfig},
		Layers: []v1.Descriptor{{MediaType: SBOMMediaType, Size: int64(len(sbom)), Digest: sha256Digest(sbom),
			Annotations: map[string]string{"org.opencontainers.image.title": title}}},
		Subject: &v1.Descriptor{MediaType: sd.MediaType, Size: sd.Size, Digest: sd.Digest},
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return partial.CompressedToImage(&sbomArtifact{manifest: raw, sbom: sbom})
}

func (a *sbomArtifact) RawConfigFile() ([]byte, error)      { return emptyConfig, nil }
func (a *sbomArtifact) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (a *sbomArtifact) RawManifest() ([]byte, error)        { return a.manifest, nil }

func (a *sbomArtifact) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if h == sha256Digest(a.sbom) {
		return static.NewLayer(a.sbom, SBOMMediaType), nil
	}
	return nil, fmt.Errorf("SBOM artifact has no blob %s", h)
}
