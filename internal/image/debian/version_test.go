package debian

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCompareVersions(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1.0", "1.0", 0},
		{"1.0", "1.1", -1},
		{"1.10", "1.9", 1},
		{"1.0~rc1", "1.0", -1},
		{"1.0~rc1", "1.0~rc2", -1},
		{"1.0~~", "1.0~", -1},
		{"1.0", "1.0+b1", -1},
		{"1.0a", "1.0+", -1},
		{"1:1.0", "2.0", 1},
		{"0:1.0", "1.0", 0},
		{"2.36-9+deb12u10", "2.36-9+deb12u9", 1},
		{"2.36-9+deb12u10", "2.36-9", 1},
		{"1.47.0-2+b2", "1.47.0-2", 1},
		{"2:1.02.185-2", "2:1.02.185-2~", 1},
		{"30+20221128-1", "30+20221128-1", 0},
		{"1.0-1", "1.0-01", 0},
		{"1.2-3-4", "1.2-3", 1}, // the revision is after the last hyphen
		{"a", "B", 1},
		{"1.0.", "1.0", 1},
	} {
		got := CompareVersions(tc.a, tc.b)
		assert.Equal(t, tc.want, sign(got), "CompareVersions(%q, %q) = %d, want sign %d", tc.a, tc.b, got, tc.want)
		back := CompareVersions(tc.b, tc.a)
		assert.Equal(t, -tc.want, sign(back), "CompareVersions(%q, %q) = %d, want sign %d", tc.b, tc.a, back, -tc.want)
	}
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}
