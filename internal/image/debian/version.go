package debian

import (
	"strings"
)

// CompareVersions orders two Debian version strings as dpkg does
// ([epoch:]upstream[-revision]): negative if a < b, zero if equal, positive
// if a > b.
func CompareVersions(a, b string) int {
	ea, ua, ra := splitVersion(a)
	eb, ub, rb := splitVersion(b)
	if c := compareNumeric(ea, eb); c != 0 {
		return c
	}
	if c := compareFragment(ua, ub); c != 0 {
		return c
	}
	return compareFragment(ra, rb)
}

func splitVersion(v string) (epoch, upstream, revision string) {
	epoch = "0"
	if e, rest, ok := strings.Cut(v, ":"); ok {
		epoch, v = e, rest
	}
	upstream = v
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		upstream, revision = v[:i], v[i+1:]
	}
	return epoch, upstream, revision
}

// compareFragment is dpkg's verrevcmp: alternating non-digit and digit runs,
// where '~' sorts before everything, even the end of the string.
func compareFragment(a, b string) int {
	for a != "" || b != "" {
		var na, nb string
		na, a = splitRun(a, false)
		nb, b = splitRun(b, false)
		if c := compareLexical(na, nb); c != 0 {
			return c
		}
		na, a = splitRun(a, true)
		nb, b = splitRun(b, true)
		if c := compareNumeric(na, nb); c != 0 {
			return c
		}
	}
	return 0
}

func splitRun(s string, digits bool) (run, rest string) {
	i := 0
	for i < len(s) && isDigit(s[i]) == digits {
		i++
	}
	return s[:i], s[i:]
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// order is dpkg's character weight: '~' lowest, then end of string, then
// letters, then everything else.
func order(c byte) int {
	switch {
	case c == '~':
		return -1
	case isDigit(c):
		return 0
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		return int(c)
	default:
		return int(c) + 256
	}
}

func compareLexical(a, b string) int {
	for i := 0; i < len(a) || i < len(b); i++ {
		var oa, ob int
		if i < len(a) {
			oa = order(a[i])
		}
		if i < len(b) {
			ob = order(b[i])
		}
		if oa != ob {
			return oa - ob
		}
	}
	return 0
}

func compareNumeric(a, b string) int {
	a = strings.TrimLeft(a, "0")
	b = strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}
