package debian

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testIndex builds an index from "name version depends [| provides]" lines.
func testIndex(t *testing.T, pkgs ...[4]string) *Index {
	t.Helper()
	ix := &Index{Arch: "amd64", packages: map[string]*Package{}, provides: map[string][]*Package{}}
	for _, p := range pkgs {
		deps, err := ParseRelations(p[2])
		require.NoError(t, err)
		provGroups, err := ParseRelations(p[3])
		require.NoError(t, err)
		var prov []Relation
		for _, g := range provGroups {
			prov = append(prov, g...)
		}
		ix.packages[p[0]] = &Package{Name: p[0], Version: p[1], Architecture: "amd64", Depends: deps, Provides: prov}
	}
	ix.indexProvides()
	return ix
}

func names(ps []*Package) map[string]string {
	out := map[string]string{}
	for _, p := range ps {
		out[p.Name] = p.Via
	}
	return out
}

func TestResolve(t *testing.T) {
	ix := testIndex(t,
		[4]string{"lvm2", "2.03.16-2", "libc6 (>= 2.34), dmsetup (>= 2:1.02.185-2~), lsb-base", ""},
		[4]string{"dmsetup", "2:1.02.185-2", "libc6 (>= 2.34)", ""},
		[4]string{"libc6", "2.36-9", "libgcc-s1", ""},
		[4]string{"libgcc-s1", "12.2.0-14", "", ""},
		[4]string{"lsb-base", "11.6", "", ""},
		[4]string{"base-files", "12.4", "awk", ""},
		[4]string{"gawk", "1:5.2.1-2", "", "awk"},
		[4]string{"mawk", "1.3.4", "", "awk"},
		[4]string{"iproute2", "6.1.0-3", "debconf (>= 0.5) | debconf-2.0, libc6", ""},
		[4]string{"debconf", "1.5.82", "perl-base", "debconf-2.0"},
	)
	got, err := ix.Resolve([]string{"lvm2", "base-files", "iproute2"}, []string{"lsb-base", "debconf"})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"lvm2": "", "base-files": "", "iproute2": "",
		"dmsetup": "lvm2", "libc6": "lvm2", "libgcc-s1": "libc6",
		"gawk": "base-files", // first provider of the virtual awk, by name
	}, names(got))
	for i := 1; i < len(got); i++ {
		assert.Less(t, got[i-1].Name, got[i].Name, "sorted by name")
	}

	// Excluding the virtual name skips the group; a group whose
	// alternatives are all excluded (debconf | debconf-2.0) is skipped too.
	got, err = ix.Resolve([]string{"base-files", "iproute2"}, []string{"awk", "debconf"})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"base-files": "", "iproute2": "", "libc6": "iproute2", "libgcc-s1": "libc6"}, names(got))
}

func TestResolveErrors(t *testing.T) {
	ix := testIndex(t,
		[4]string{"lvm2", "2.03.16-2", "libc6 (>= 2.40)", ""},
		[4]string{"libc6", "2.36-9", "", ""},
		[4]string{"xfsprogs", "6.1.0-1", "python3:any", ""},
	)
	for _, tc := range []struct {
		roots, exclude []string
		want           string
	}{
		{[]string{"lvm2"}, nil, "lvm2 2.03.16-2 (via lvm2) depends on libc6 (>= 2.40), but the index has libc6 2.36-9"},
		{[]string{"xfsprogs"}, nil, "xfsprogs 6.1.0-1 (via xfsprogs): no package satisfies python3"},
		{[]string{"zfsutils"}, nil, "root package zfsutils: not in the amd64 index"},
		{[]string{"libc6"}, []string{"libc6"}, "libc6 is both a root and excluded"},
	} {
		_, err := ix.Resolve(tc.roots, tc.exclude)
		require.Error(t, err)
		assert.Contains(t, err.Error(), tc.want)
	}
}
