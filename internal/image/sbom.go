package image

import (
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"

	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx/v2/common"
	spdx "github.com/spdx/tools-golang/spdx/v2/v2_3"

	"github.com/piraeusctl/piraeusctl/internal/image/debian"
)

// debianRelease names the Debian release in package URLs (purl "distro").
const debianRelease = "debian-12"

// sbomInput is what one platform's SBOM describes.
type sbomInput struct {
	stamp    Stamp
	platform string // "linux/amd64"
	binary   []byte // the piraeusctl executable
	packages []debian.Locked
	lock     *debian.Lock
}

// buildSBOM writes an SPDX 2.3 JSON document: the image, the piraeusctl
// binary with every Go module its build info names (and the Go standard
// library), and every Debian package of the image.
func buildSBOM(in sbomInput) ([]byte, error) {
	info, err := buildinfo.Read(bytes.NewReader(in.binary))
	if err != nil {
		return nil, fmt.Errorf("piraeusctl build info: %w", err)
	}
	binSum := sha256.Sum256(in.binary)
	doc := &spdx.Document{
		SPDXVersion:       spdx.Version,
		DataLicense:       spdx.DataLicense,
		SPDXIdentifier:    "DOCUMENT",
		DocumentName:      fmt.Sprintf("piraeusctl %s %s", in.stamp.Version, in.platform),
		DocumentNamespace: fmt.Sprintf("%s/sbom/%s/%s/%s", strings.TrimSuffix(in.stamp.Source, "/"), url.PathEscape(in.stamp.Version), in.platform, hex.EncodeToString(binSum[:8])),
		CreationInfo: &spdx.CreationInfo{
			Creators: []common.Creator{{CreatorType: "Tool", Creator: "piraeusctl-image-builder"}},
			Created:  in.stamp.Created.UTC().Format("2006-01-02T15:04:05Z"),
		},
	}
	image := &spdx.Package{
		PackageSPDXIdentifier:   "Image",
		PackageName:             "piraeusctl-image",
		PackageVersion:          in.stamp.Version,
		PackageDownloadLocation: "NOASSERTION",
		PrimaryPackagePurpose:   "CONTAINER",
		PackageComment:          "platform " + in.platform + ", revision " + in.stamp.Revision,
	}
	bin := &spdx.Package{
		PackageSPDXIdentifier:   "Binary-piraeusctl",
		PackageName:             info.Main.Path,
		PackageVersion:          in.stamp.Version,
		PackageFileName:         "/usr/bin/piraeusctl",
		PackageDownloadLocation: in.stamp.Source,
		PackageChecksums:        []common.Checksum{{Algorithm: common.SHA256, Value: hex.EncodeToString(binSum[:])}},
		PrimaryPackagePurpose:   "APPLICATION",
		PackageExternalReferences: []*spdx.PackageExternalReference{purlRef(
			"pkg:golang/" + info.Main.Path + "@" + in.stamp.Version)},
	}
	doc.Packages = append(doc.Packages, image, bin)
	rel := func(a, kind, b string) {
		doc.Relationships = append(doc.Relationships, &spdx.Relationship{
			RefA: common.MakeDocElementID("", a), RefB: common.MakeDocElementID("", b), Relationship: kind})
	}
	rel("DOCUMENT", common.TypeRelationshipDescribe, "Image")
	rel("Image", common.TypeRelationshipContains, "Binary-piraeusctl")
	for _, m := range goModules(info) {
		doc.Packages = append(doc.Packages, m)
		rel("Binary-piraeusctl", common.TypeRelationshipDependsOn, string(m.PackageSPDXIdentifier))
	}
	for i, p := range in.packages {
		pkg, err := debPackage(in.lock, p, i)
		if err != nil {
			return nil, err
		}
		doc.Packages = append(doc.Packages, pkg)
		rel("Image", common.TypeRelationshipContains, string(pkg.PackageSPDXIdentifier))
	}
	var buf bytes.Buffer
	if err := spdxjson.Write(doc, &buf, spdxjson.Indent("  "), spdxjson.EscapeHTML(false)); err != nil {
		return nil, fmt.Errorf("encode SBOM: %w", err)
	}
	return buf.Bytes(), nil
}

// goModules lists the Go toolchain and every dependency the binary was
// built with (after replacements), as `go version -m` shows them.
func goModules(info *buildinfo.BuildInfo) []*spdx.Package {
	out := []*spdx.Package{{
		PackageSPDXIdentifier:   "Go-stdlib",
		PackageName:             "stdlib",
		PackageVersion:          info.GoVersion,
		PackageDownloadLocation: "NOASSERTION",
		PrimaryPackagePurpose:   "LIBRARY",
		PackageExternalReferences: []*spdx.PackageExternalReference{purlRef(
			"pkg:golang/stdlib@" + info.GoVersion)},
	}}
	for i, d := range info.Deps {
		m := d
		if d.Replace != nil {
			m = d.Replace
		}
		p := &spdx.Package{
			PackageSPDXIdentifier:   common.ElementID(fmt.Sprintf("Go-%d", i+1)),
			PackageName:             m.Path,
			PackageVersion:          m.Version,
			PackageDownloadLocation: "NOASSERTION",
			PrimaryPackagePurpose:   "LIBRARY",
			PackageExternalReferences: []*spdx.PackageExternalReference{purlRef(
				"pkg:golang/" + m.Path + "@" + m.Version)},
		}
		if m.Sum != "" {
			p.PackageComment = "go.sum " + m.Sum
		}
		if d.Replace != nil {
			p.PackageComment = strings.TrimSpace(fmt.Sprintf("replaces %s@%s; %s", d.Path, d.Version, p.PackageComment))
		}
		out = append(out, p)
	}
	return out
}

func debPackage(lock *debian.Lock, p debian.Locked, i int) (*spdx.Package, error) {
	a, ok := lock.Archive(p.Archive)
	if !ok {
		return nil, fmt.Errorf("package %s: unknown archive %q", p.Name, p.Archive)
	}
	purl := fmt.Sprintf("pkg:deb/debian/%s@%s?arch=%s&distro=%s", p.Name, url.PathEscape(p.Version), p.Arch, debianRelease)
	return &spdx.Package{
		PackageSPDXIdentifier:     common.ElementID(fmt.Sprintf("Deb-%d", i+1)),
		PackageName:               p.Name,
		PackageVersion:            p.Version,
		PackageFileName:           p.Basename(),
		PackageSupplier:           &common.Supplier{SupplierType: "Organization", Supplier: "Debian"},
		PackageDownloadLocation:   strings.TrimSuffix(a.URL, "/") + "/" + p.Filename,
		PackageChecksums:          []common.Checksum{{Algorithm: common.SHA256, Value: p.SHA256}},
		PackageExternalReferences: []*spdx.PackageExternalReference{purlRef(purl)},
	}, nil
}

func purlRef(purl string) *spdx.PackageExternalReference {
	return &spdx.PackageExternalReference{Category: common.CategoryPackageManager, RefType: common.TypePackageManagerPURL, Locator: purl}
}
