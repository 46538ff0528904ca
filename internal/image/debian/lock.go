package debian

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Lock pins the packages of an image: the archives they come from, the
// request they were resolved for, and per platform every package with its
// version, pool path, size and sha256.
type Lock struct {
	Archives []Archive
	Roots    []string
	Exclude  []string
	Drop     []string
	Packages []Locked
}

// Locked is one pinned package of one platform.
type Locked struct {
	Platform string // Debian architecture of the image platform (amd64, arm64)
	Name     string
	Version  string
	Arch     string // the package's Architecture (the platform's or "all")
	Archive  string // Archive.Name
	Filename string // pool path
	Size     int64
	SHA256   string
	Via      string // the package that pulled it in; "" for a root
}

// Basename is the .deb file name.
func (l Locked) Basename() string { return path.Base(l.Filename) }

// Platforms lists the lock's platforms in order.
func (l *Lock) Platforms() []string {
	var out []string
	for _, p := range l.Packages {
		if !slices.Contains(out, p.Platform) {
			out = append(out, p.Platform)
		}
	}
	return out
}

// For returns the packages of one platform, by name.
func (l *Lock) For(platform string) []Locked {
	var out []Locked
	for _, p := range l.Packages {
		if p.Platform == platform {
			out = append(out, p)
		}
	}
	return out
}

// Archive returns the archive named name.
func (l *Lock) Archive(name string) (Archive, bool) {
	for _, a := range l.Archives {
		if a.Name == name {
			return a, true
		}
	}
	return Archive{}, false
}

// Matches reports whether the lock was resolved for req (in any order).
func (l *Lock) Matches(req Request) bool {
	return sameSet(l.Roots, req.Roots) && sameSet(l.Exclude, req.Exclude) && sameSet(l.Drop, req.Drop)
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// NewLock pins resolved packages per platform.
func NewLock(archives []Archive, req Request, resolved map[string][]*Package) *Lock {
	l := &Lock{Archives: archives, Roots: req.Roots, Exclude: req.Exclude, Drop: req.Drop}
	for platform, pkgs := range resolved {
		for _, p := range pkgs {
			l.Packages = append(l.Packages, Locked{
				Platform: platform, Name: p.Name, Version: p.Version, Arch: p.Architecture,
				Archive: p.Archive, Filename: p.Filename, Size: p.Size, SHA256: p.SHA256, Via: p.Via,
			})
		}
	}
	sort.Slice(l.Packages, func(i, j int) bool {
		a, b := l.Packages[i], l.Packages[j]
		if a.Platform != b.Platform {
			return a.Platform < b.Platform
		}
		return a.Name < b.Name
	})
	return l
}

const lockHeader = `# Debian packages of the piraeusctl image, pinned. Written by ` + "`make image-lock`" + `
# from the signed indexes of the archives below; ` + "`make image`" + ` uses it as it is.
# Lines: archive NAME URL SUITES | root NAME | exclude NAME | drop PATH |
#        package PLATFORM NAME VERSION ARCH ARCHIVE FILENAME SIZE SHA256 [VIA] (tab-separated;
#        VIA is the package that depends on it, for reviewers)
`

// Encode writes the lock file.
func (l *Lock) Encode() []byte {
	var b bytes.Buffer
	b.WriteString(lockHeader)
	for _, a := range l.Archives {
		fmt.Fprintf(&b, "archive\t%s\t%s\t%s\n", a.Name, a.URL, strings.Join(a.Suites, ","))
	}
	for _, r := range l.Roots {
		fmt.Fprintf(&b, "root\t%s\n", r)
	}
	for _, e := range l.Exclude {
		fmt.Fprintf(&b, "exclude\t%s\n", e)
	}
	for _, d := range l.Drop {
		fmt.Fprintf(&b, "drop\t%s\n", d)
	}
	for _, p := range l.Packages {
		fmt.Fprintf(&b, "package\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s",
			p.Platform, p.Name, p.Version, p.Arch, p.Archive, p.Filename, p.Size, p.SHA256)
		if p.Via != "" {
			fmt.Fprintf(&b, "\t%s", p.Via)
		}
		b.WriteString("\n")
	}
	return b.Bytes()
}

// ReadLockFile reads and checks a lock file.
func ReadLockFile(name string) (*Lock, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseLock(f, name)
}

// ParseLock reads a lock file; name is used in errors.
func ParseLock(r io.Reader, name string) (*Lock, error) {
	l := &Lock{}
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if err := l.parseLine(strings.Split(text, "\t")); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := l.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return l, nil
}

func (l *Lock) parseLine(f []string) error {
	want := map[string]int{"archive": 4, "root": 2, "exclude": 2, "drop": 2, "package": 9}
	n, ok := want[f[0]]
	if !ok {
		return fmt.Errorf("unknown line kind %q; expected archive, root, exclude, drop or package", f[0])
	}
	if f[0] == "package" && len(f) == n+1 {
		n++ // VIA
	}
	if len(f) != n {
		return fmt.Errorf("%s line: expected %d tab-separated fields, found %d", f[0], n, len(f))
	}
	switch f[0] {
	case "archive":
		l.Archives = append(l.Archives, Archive{Name: f[1], URL: f[2], Suites: strings.Split(f[3], ",")})
	case "root":
		l.Roots = append(l.Roots, f[1])
	case "exclude":
		l.Exclude = append(l.Exclude, f[1])
	case "drop":
		if !strings.HasPrefix(f[1], "/") || path.Clean(f[1]) != f[1] || f[1] == "/" {
			return fmt.Errorf("drop %q: expected a clean absolute path below /", f[1])
		}
		l.Drop = append(l.Drop, f[1])
	case "package":
		size, err := strconv.ParseInt(f[7], 10, 64)
		if err != nil || size <= 0 {
			return fmt.Errorf("package %s: size %q: expected a positive integer", f[2], f[7])
		}
		l.Packages = append(l.Packages, Locked{Platform: f[1], Name: f[2], Version: f[3], Arch: f[4],
			Archive: f[5], Filename: f[6], Size: size, SHA256: f[8]})
		if len(f) == 10 {
			l.Packages[len(l.Packages)-1].Via = f[9]
		}
	}
	return nil
}

func (l *Lock) check() error {
	if len(l.Packages) == 0 {
		return fmt.Errorf("no packages")
	}
	seen := map[string]bool{}
	for _, p := range l.Packages {
		if _, ok := l.Archive(p.Archive); !ok {
			return fmt.Errorf("package %s: unknown archive %q", p.Name, p.Archive)
		}
		if len(p.SHA256) != 64 || strings.Trim(p.SHA256, "0123456789abcdef") != "" {
			return fmt.Errorf("package %s: sha256 %q: expected 64 lowercase hex digits", p.Name, p.SHA256)
		}
		if !strings.HasPrefix(p.Filename, "pool/") || strings.Contains(p.Filename, "..") || !strings.HasSuffix(p.Filename, ".deb") {
			return fmt.Errorf("package %s: filename %q: expected pool/....deb", p.Name, p.Filename)
		}
		key := p.Platform + "/" + p.Name
		if seen[key] {
			return fmt.Errorf("package %s listed twice for %s", p.Name, p.Platform)
		}
		seen[key] = true
	}
	for _, platform := range l.Platforms() {
		for _, root := range l.Roots {
			if !seen[platform+"/"+root] {
				return fmt.Errorf("root %s missing for %s", root, platform)
			}
		}
	}
	return nil
}
