package debian

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseParagraphs(t *testing.T) {
	in := "Package: lvm2\nVersion: 2.03.16-2\nDescription: short\n long line\n .\n\nPackage: dash\nVersion: 0.5.12-2\n"
	ps, err := ParseParagraphs(strings.NewReader(in), "Packages")
	require.NoError(t, err)
	require.Len(t, ps, 2)
	assert.Equal(t, "lvm2", ps[0]["Package"])
	assert.Equal(t, "short\nlong line\n.", ps[0]["Description"])
	assert.Equal(t, "0.5.12-2", ps[1]["Version"])
}

func TestParseParagraphsErrors(t *testing.T) {
	for in, want := range map[string]string{
		" continuation\n":        "Packages:1: continuation line without a field",
		"Package: a\nno colon\n": "Packages:2: expected \"Field: value\"",
		"Package: a\nPackage: b": "Packages:2: field Package given twice",
	} {
		_, err := ParseParagraphs(strings.NewReader(in), "Packages")
		require.Error(t, err, in)
		assert.Contains(t, err.Error(), want)
	}
}

func TestParseRelations(t *testing.T) {
	got, err := ParseRelations("libc6 (>= 2.34), debconf (>= 0.5) | debconf-2.0, python3:any, libfoo (<< 2~)")
	require.NoError(t, err)
	assert.Equal(t, [][]Relation{
		{{Name: "libc6", Op: ">=", Version: "2.34"}},
		{{Name: "debconf", Op: ">=", Version: "0.5"}, {Name: "debconf-2.0"}},
		{{Name: "python3"}},
		{{Name: "libfoo", Op: "<<", Version: "2~"}},
	}, got)

	for _, bad := range []string{"foo (>= )", "foo (~ 1)", "foo [amd64]", "foo (>= 1) bar", "(>= 1)"} {
		_, err := ParseRelations(bad)
		assert.Error(t, err, bad)
	}
}

func TestRelationSatisfied(t *testing.T) {
	for _, tc := range []struct {
		rel     Relation
		version string
		want    bool
	}{
		{Relation{Name: "a"}, "1", true},
		{Relation{Name: "a", Op: ">=", Version: "2.34"}, "2.36-9+deb12u14", true},
		{Relation{Name: "a", Op: ">=", Version: "2.37"}, "2.36-9", false},
		{Relation{Name: "a", Op: "=", Version: "1.47.0-2+b2"}, "1.47.0-2+b2", true},
		{Relation{Name: "a", Op: "<<", Version: "1.0"}, "1.0~rc1", true},
		{Relation{Name: "a", Op: ">>", Version: "1.0"}, "1.0", false},
		{Relation{Name: "a", Op: "<=", Version: "1.0"}, "1.0", true},
	} {
		assert.Equal(t, tc.want, tc.rel.Satisfied(tc.version), "%s with %s", tc.rel, tc.version)
	}
}

func TestParseRequest(t *testing.T) {
	req, err := ParseRequest(strings.NewReader("# roots\nlvm2\ndrbd-utils  # why\n\n-python3 # reason\n/usr/share/man\n"), "packages.txt")
	require.NoError(t, err)
	assert.Equal(t, []string{"lvm2", "drbd-utils"}, req.Roots)
	assert.Equal(t, []string{"python3"}, req.Exclude)
	assert.Equal(t, []string{"/usr/share/man"}, req.Drop)

	for in, want := range map[string]string{
		"lvm2 dash\n":         "packages.txt:1: expected one package name per line",
		"Lvm2\n":              `packages.txt:1: "Lvm2" is not a Debian package name`,
		"lvm2\n-lvm2\n":       "packages.txt:2: lvm2 already listed on line 1",
		"# nothing\n":         "packages.txt: no packages",
		"-\n":                 `packages.txt:1: "" is not a Debian package name`,
		"lvm2\n../x\n":        `packages.txt:2: "../x" is not a Debian package name`,
		"lvm2\n-+bad\n":       `packages.txt:2: "+bad" is not a Debian package name`,
		"lvm2\na\n":           `packages.txt:2: "a" is not a Debian package name`,
		"lvm2\nlib_c\n":       `packages.txt:2: "lib_c" is not a Debian package name`,
		"lvm2\nlibc6:\n":      `packages.txt:2: "libc6:" is not a Debian package name`,
		"lvm2\n/usr/../etc\n": `packages.txt:2: "/usr/../etc": expected a clean absolute path`,
		"lvm2\n/\n":           `packages.txt:2: "/": expected a clean absolute path`,
	} {
		_, err := ParseRequest(strings.NewReader(in), "packages.txt")
		require.Error(t, err, in)
		assert.Contains(t, err.Error(), want, in)
	}
}
