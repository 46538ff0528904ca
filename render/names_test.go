package render

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/validation"
)

func TestSatelliteName(t *testing.T) {
	long := strings.Repeat("a", 80)
	cases := []struct {
		node, want string
	}{
		{"n1", "linstor-satellite-n1"},
		{"worker-1.example.com", "linstor-satellite-worker-1-example-com-" + shortHash("worker-1.example.com")},
		{"Node_A", "linstor-satellite-node-a-" + shortHash("Node_A")},
		{long, "linstor-satellite-" + strings.Repeat("a", 63-hashLen-1-len("linstor-satellite-")) + "-" + shortHash(long)},
	}
	for _, tc := range cases {
		got, err := SatelliteName(tc.node)
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, "SatelliteName(%q) = %q, want %q", tc.node, got, tc.want)
		errs := validation.IsDNS1123Label(got)
		assert.False(t, len(errs) > 0, "SatelliteName(%q) = %q: %v", tc.node, got, errs)
	}
	_, err := SatelliteName("")
	assert.Error(t, err, "empty node name accepted")
	// Names that differ only in case or odd characters must not collide.
	a, _ := SatelliteName("Node_A")
	b, _ := SatelliteName("node.a")
	assert.NotEqual(t, b, a, "collision: %q", a)
}

func shortHash(s string) string { return hashOf(s) }

func FuzzSatelliteName(f *testing.F) {
	for _, s := range []string{"n1", "UPPER", "dots.in.name", strings.Repeat("x", 300), "-lead", "trail-", "ünïcode", "a b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, node string) {
		if node == "" {
			return
		}
		got, err := SatelliteName(node)
		require.NoError(t, err)
		errs := validation.IsDNS1123Label(got)
		require.False(t, len(errs) > 0, "SatelliteName(%q) = %q: %v", node, got, errs)
		again, _ := SatelliteName(node)
		require.Equal(t, got, again, "unstable: %q then %q", got, again)
	})
}
