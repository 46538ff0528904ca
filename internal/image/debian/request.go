package debian

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

// Request is what an image asks for: root packages, packages that are
// never installed although something depends on them, and paths left out
// of the unpacked packages.
type Request struct {
	Roots   []string
	Exclude []string
	Drop    []string // absolute paths; a directory drops all below it
}

// ReadRequestFile reads a package list: one package name per line, a
// leading "-" excludes it, a line starting with "/" is a path to drop, "#"
// starts a comment.
func ReadRequestFile(name string) (Request, error) {
	f, err := os.Open(name)
	if err != nil {
		return Request{}, err
	}
	defer f.Close()
	return ParseRequest(f, name)
}

// ParseRequest reads a package list; name is used in errors.
func ParseRequest(r io.Reader, name string) (Request, error) {
	var req Request
	seen := map[string]int{}
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(text)
		if len(f) == 0 {
			continue
		}
		if len(f) > 1 {
			return Request{}, fmt.Errorf("%s:%d: expected one package name per line, found %q", name, line, text)
		}
		if strings.HasPrefix(f[0], "/") {
			if p := path.Clean(f[0]); p != f[0] || p == "/" {
				return Request{}, fmt.Errorf("%s:%d: %q: expected a clean absolute path below /", name, line, f[0])
			}
			req.Drop = append(req.Drop, f[0])
			continue
		}
		pkg, excluded := strings.CutPrefix(f[0], "-")
		if !validName(pkg) {
			return Request{}, fmt.Errorf("%s:%d: %q is not a Debian package name", name, line, pkg)
		}
		if prev, dup := seen[pkg]; dup {
			return Request{}, fmt.Errorf("%s:%d: %s already listed on line %d", name, line, pkg, prev)
		}
		seen[pkg] = line
		if excluded {
			req.Exclude = append(req.Exclude, pkg)
		} else {
			req.Roots = append(req.Roots, pkg)
		}
	}
	if err := sc.Err(); err != nil {
		return Request{}, fmt.Errorf("%s: %w", name, err)
	}
	if len(req.Roots) == 0 {
		return Request{}, fmt.Errorf("%s: no packages", name)
	}
	return req, nil
}

// validName is Debian policy 5.6.1: lowercase letters, digits, + - . and at
// least two characters, starting with a letter or digit.
func validName(s string) bool {
	if len(s) < 2 {
		return false
	}
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '+' || c == '-' || c == '.') && i > 0:
		default:
			return false
		}
	}
	return true
}
