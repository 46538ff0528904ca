package debian

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"sort"
	"strconv"
	"strings"

	"github.com/ulikunitz/xz"
)

// Archive is one Debian archive (a base URL) and the suites taken from it.
type Archive struct {
	// Name is the short name the lock file uses for this archive.
	Name string
	// URL is the archive's base URL (the parent of dists/ and pool/).
	URL string
	// Suites are read in order; a later suite's newer version wins.
	Suites []string
}

// Component is the only archive component read: the image takes no contrib
// or non-free packages.
const Component = "main"

// DefaultKeyring holds Debian's archive signing keys on every Debian system.
const DefaultKeyring = "/usr/share/keyrings/debian-archive-keyring.gpg"

// Package is one binary package of an index.
type Package struct {
	Name         string
	Version      string
	Architecture string // the package's own: the platform's, or "all"
	Archive      string // Archive.Name it came from
	Suite        string
	Filename     string // pool path relative to the archive URL
	Size         int64
	SHA256       string
	Depends      [][]Relation // Pre-Depends and Depends
	Provides     []Relation
	Via          string // set by Resolve: the package that depends on it
}

// Index is the newest version of every package of one architecture across
// the suites read.
type Index struct {
	Arch     string
	packages map[string]*Package
	provides map[string][]*Package // virtual name → providers, by name
}

// Fetcher downloads from the archives.
type Fetcher struct {
	Client *http.Client
	// Keyring verifies InRelease files (gpgv); DefaultKeyring when empty.
	Keyring string
}

// FetchIndex reads the signed InRelease and the Packages index of every
// suite for arch, verifies signature and checksums, and merges them.
func (f *Fetcher) FetchIndex(ctx context.Context, archives []Archive, arch string) (*Index, error) {
	ix := &Index{Arch: arch, packages: map[string]*Package{}, provides: map[string][]*Package{}}
	for _, a := range archives {
		for _, suite := range a.Suites {
			pkgs, err := f.fetchPackages(ctx, a, suite, arch)
			if err != nil {
				return nil, err
			}
			for _, p := range pkgs {
				if old, ok := ix.packages[p.Name]; !ok || CompareVersions(p.Version, old.Version) > 0 {
					ix.packages[p.Name] = p
				}
			}
		}
	}
	ix.indexProvides()
	return ix, nil
}

func (ix *Index) indexProvides() {
	names := make([]string, 0, len(ix.packages))
	for n := range ix.packages {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := ix.packages[n]
		for _, v := range p.Provides {
			ix.provides[v.Name] = append(ix.provides[v.Name], p)
		}
	}
}

// Package returns the newest version of name, or nil.
func (ix *Index) Package(name string) *Package { return ix.packages[name] }

// Len is the number of packages in the index.
func (ix *Index) Len() int { return len(ix.packages) }

func (f *Fetcher) fetchPackages(ctx context.Context, a Archive, suite, arch string) ([]*Package, error) {
	base := strings.TrimSuffix(a.URL, "/") + "/dists/" + suite + "/"
	signed, err := f.get(ctx, base+"InRelease")
	if err != nil {
		return nil, err
	}
	release, err := f.verify(ctx, signed, base+"InRelease")
	if err != nil {
		return nil, err
	}
	path := Component + "/binary-" + arch + "/Packages.xz"
	sum, err := releaseChecksum(release, path)
	if err != nil {
		return nil, fmt.Errorf("%sInRelease: %w", base, err)
	}
	compressed, err := f.get(ctx, base+path)
	if err != nil {
		return nil, err
	}
	if got := sha256Hex(compressed); got != sum {
		return nil, fmt.Errorf("%s%s: sha256 %s, InRelease says %s", base, path, got, sum)
	}
	xr, err := xz.NewReader(bytes.NewReader(compressed))
	if err != nil {
		return nil, fmt.Errorf("%s%s: %w", base, path, err)
	}
	paras, err := ParseParagraphs(bufio.NewReaderSize(xr, 1<<20), base+path)
	if err != nil {
		return nil, err
	}
	out := make([]*Package, 0, len(paras))
	for _, para := range paras {
		p, err := packageFromParagraph(para)
		if err != nil {
			return nil, fmt.Errorf("%s%s: %w", base, path, err)
		}
		p.Archive, p.Suite = a.Name, suite
		out = append(out, p)
	}
	return out, nil
}

func packageFromParagraph(para Paragraph) (*Package, error) {
	p := &Package{
		Name:         para["Package"],
		Version:      para["Version"],
		Architecture: para["Architecture"],
		Filename:     para["Filename"],
		SHA256:       para["SHA256"],
	}
	if p.Name == "" || p.Version == "" || p.Filename == "" || len(p.SHA256) != 64 {
		return nil, fmt.Errorf("package %q: missing Package, Version, Filename or SHA256", p.Name)
	}
	size, err := strconv.ParseInt(para["Size"], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("package %s: Size: %w", p.Name, err)
	}
	p.Size = size
	for _, field := range []string{"Pre-Depends", "Depends"} {
		rels, err := ParseRelations(para[field])
		if err != nil {
			return nil, fmt.Errorf("package %s: %s: %w", p.Name, field, err)
		}
		p.Depends = append(p.Depends, rels...)
	}
	provides, err := ParseRelations(para["Provides"])
	if err != nil {
		return nil, fmt.Errorf("package %s: Provides: %w", p.Name, err)
	}
	for _, g := range provides {
		p.Provides = append(p.Provides, g...)
	}
	return p, nil
}

// verify checks an InRelease signature with gpgv and returns only the
// signed text, so nothing unverified is ever parsed.
func (f *Fetcher) verify(ctx context.Context, signed []byte, name string) ([]byte, error) {
	keyring := f.Keyring
	if keyring == "" {
		keyring = DefaultKeyring
	}
	cmd := exec.CommandContext(ctx, "gpgv", "--quiet", "--keyring", keyring, "--output", "-", "-")
	cmd.Stdin = bytes.NewReader(signed)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: signature not verified by %s (gpgv: %v): %s", name, keyring, err, strings.TrimSpace(stderr.String()))
	}
	return out.Bytes(), nil
}

// releaseChecksum finds path's sha256 in a Release file's SHA256 section.
func releaseChecksum(release []byte, path string) (string, error) {
	paras, err := ParseParagraphs(bytes.NewReader(release), "InRelease")
	if err != nil {
		return "", err
	}
	if len(paras) == 0 {
		return "", fmt.Errorf("empty Release file")
	}
	for _, line := range strings.Split(paras[0]["SHA256"], "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[2] == path && len(f[0]) == 64 {
			return f[0], nil
		}
	}
	return "", fmt.Errorf("no SHA256 entry for %s", path)
}

func (f *Fetcher) get(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	client := f.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	return body, nil
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
