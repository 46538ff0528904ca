package debian

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testLock() *Lock {
	archives := []Archive{{Name: "debian", URL: "http://deb.example/debian", Suites: []string{"bookworm", "bookworm-updates"}}}
	sum := strings.Repeat("ab", 32)
	pkg := func(name, via string) *Package {
		return &Package{Name: name, Version: "1.0-1", Architecture: "amd64", Archive: "debian",
			Filename: "pool/main/x/" + name + "/" + name + "_1.0-1_amd64.deb", Size: 100, SHA256: sum, Via: via}
	}
	req := Request{Roots: []string{"lvm2"}, Exclude: []string{"python3"}, Drop: []string{"/usr/share/man"}}
	return NewLock(archives, req, map[string][]*Package{
		"arm64": {pkg("lvm2", ""), pkg("libc6", "lvm2")},
		"amd64": {pkg("libc6", "lvm2"), pkg("lvm2", "")},
	})
}

func TestLockRoundTrip(t *testing.T) {
	l := testLock()
	enc := l.Encode()
	back, err := ParseLock(bytes.NewReader(enc), "debian.lock")
	require.NoError(t, err)
	assert.Equal(t, l, back)
	assert.Equal(t, []string{"amd64", "arm64"}, back.Platforms())
	assert.Equal(t, "libc6", back.For("amd64")[0].Name, "sorted by platform, then name")
	assert.True(t, back.Matches(Request{Roots: []string{"lvm2"}, Exclude: []string{"python3"}, Drop: []string{"/usr/share/man"}}))
	assert.False(t, back.Matches(Request{Roots: []string{"lvm2", "dash"}, Exclude: []string{"python3"}, Drop: []string{"/usr/share/man"}}))
	assert.False(t, back.Matches(Request{Roots: []string{"lvm2"}, Exclude: []string{"python3"}}))
	assert.Equal(t, enc, back.Encode(), "stable encoding")
}

func TestParseLockErrors(t *testing.T) {
	good := string(testLock().Encode())
	for name, tc := range map[string]struct{ edit, want string }{
		"unknown kind":  {"bogus\tx\n", "unknown line kind \"bogus\""},
		"field count":   {"root\ta\tb\n", "root line: expected 2 tab-separated fields, found 3"},
		"bad size":      {"package\tamd64\tx\t1\tamd64\tdebian\tpool/x.deb\t-1\t" + strings.Repeat("a", 64) + "\n", "size \"-1\""},
		"bad sha":       {"package\tamd64\tx\t1\tamd64\tdebian\tpool/x.deb\t1\tABC\n", "sha256 \"ABC\""},
		"bad archive":   {"package\tamd64\tx\t1\tamd64\tubuntu\tpool/x.deb\t1\t" + strings.Repeat("a", 64) + "\n", "unknown archive \"ubuntu\""},
		"escaping path": {"package\tamd64\tx\t1\tamd64\tdebian\tpool/../../etc/passwd.deb\t1\t" + strings.Repeat("a", 64) + "\n", "expected pool/....deb"},
		"duplicate":     {"package\tamd64\tlvm2\t1\tamd64\tdebian\tpool/x.deb\t1\t" + strings.Repeat("a", 64) + "\n", "lvm2 listed twice for amd64"},
		"missing root":  {"root\tdash\n", "root dash missing for amd64"},
	} {
		_, err := ParseLock(strings.NewReader(good+tc.edit), "debian.lock")
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), tc.want, name)
		assert.Contains(t, err.Error(), "debian.lock", name)
	}
}
