package storage

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSnapshotVolumeName(t *testing.T) {
	for _, tt := range []struct {
		name          string
		res, snap     string
		num           uint32
		ok, asVolName bool
	}{
		{name: "pvc-1_00000.snap1", res: "pvc-1", num: 0, snap: "snap1", ok: true},
		{name: "a.b_c_00042.snapshot-0f6b8f0e-7d2a", res: "a.b_c", num: 42, snap: "snapshot-0f6b8f0e-7d2a", ok: true},
		{name: "pvc-1_00000", asVolName: true},
		{name: "pvc-1_00000.", ok: false},
		{name: "pvc-1_00000.a_b", ok: false},
		{name: "pvc-1_0000.snap", ok: false},
	} {
		res, num, snap, ok := ParseSnapshotVolumeName(tt.name)
		assert.Equal(t, tt.ok, ok, "%s", tt.name)
		if ok {
			assert.Equal(t, []any{tt.res, tt.num, tt.snap}, []any{res, num, snap}, "%s", tt.name)
			assert.Equal(t, tt.name, SnapshotVolumeName(res, num, snap))
		}
		_, _, isVol := ParseVolumeName(tt.name)
		assert.Equal(t, tt.asVolName, isVol, "%s read as a backing volume name", tt.name)
	}
}

// FuzzSnapshotVolumeName: a parsed name round-trips, and no name reads both
// as a snapshot volume and as a backing volume.
func FuzzSnapshotVolumeName(f *testing.F) {
	for _, s := range []string{"pvc-1_00000.snap1", "pvc-1_00000", "x_00001.a+b-c", "_00000.", "a_00000.12345"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		res, num, snap, ok := ParseSnapshotVolumeName(name)
		if !ok {
			return
		}
		if got := SnapshotVolumeName(res, num, snap); got != name {
			t.Fatalf("%q parsed as (%q, %d, %q), which names %q", name, res, num, snap, got)
		}
		if _, _, isVol := ParseVolumeName(name); isVol {
			t.Fatalf("%q reads as a snapshot and as a backing volume", name)
		}
		if !ValidSnapshotName(snap) {
			t.Fatalf("%q: snapshot part %q invalid", name, snap)
		}
	})
}
