package render

import (
	"strings"
	"testing"

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
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("SatelliteName(%q) = %q, want %q", tc.node, got, tc.want)
		}
		if errs := validation.IsDNS1123Label(got); len(errs) > 0 {
			t.Errorf("SatelliteName(%q) = %q: %v", tc.node, got, errs)
		}
	}
	if _, err := SatelliteName(""); err == nil {
		t.Error("empty node name accepted")
	}
	// Names that differ only in case or odd characters must not collide.
	a, _ := SatelliteName("Node_A")
	b, _ := SatelliteName("node.a")
	if a == b {
		t.Errorf("collision: %q", a)
	}
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
		if err != nil {
			t.Fatal(err)
		}
		if errs := validation.IsDNS1123Label(got); len(errs) > 0 {
			t.Fatalf("SatelliteName(%q) = %q: %v", node, got, errs)
		}
		again, _ := SatelliteName(node)
		if again != got {
			t.Fatalf("unstable: %q then %q", got, again)
		}
	})
}
