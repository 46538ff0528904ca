package storage

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/hostexec"
)

func TestUnder(t *testing.T) {
	for _, tc := range []struct {
		dir, path string
		want      bool
	}{
		{"/tmp/a/pool", "/tmp/a/pool/pvc_00000.uid.img", true},
		{"/tmp/a/pool", "/tmp/a/pool/sub/x", true},
		{"/tmp/a/pool", "/tmp/a/pool", false},
		{"/tmp/a/pool", "/tmp/a/pool2/x", false},
		{"/tmp/a/pool", "/tmp/a/x", false},
		{"/tmp/a/pool", "/tmp/a/pool/x (deleted)", true},
		{"/tmp/a/pool", "", false},
	} {
		assert.Equal(t, tc.want, under(tc.dir, tc.path), "%s in %s", tc.path, tc.dir)
	}
}

// TestDetachLoopsUnder attaches a loop device on a file in a pool folder
// and one on a file beside it: only the first is detached.
func TestDetachLoopsUnder(t *testing.T) {
	requireRoot(t)
	base := t.TempDir()
	pool, other := filepath.Join(base, "pool"), filepath.Join(base, "pool2")
	attach := func(dir string) string {
		require.NoError(t, os.MkdirAll(dir, 0o755))
		f := filepath.Join(dir, "vol.img")
		run(t, "truncate", "--size", "8M", f)
		dev := strings.TrimSpace(run(t, "losetup", "--find", "--show", f))
		t.Cleanup(func() { _ = DetachLoopsUnder(context.Background(), &hostexec.Local{}, dir) })
		return dev
	}
	inPool, beside := attach(pool), attach(other)
	require.NoError(t, DetachLoopsUnder(t.Context(), &hostexec.Local{}, pool))
	out := run(t, "losetup", "--list", "--noheadings", "--output", "NAME,BACK-FILE")
	assert.NotContains(t, out, filepath.Join(pool, "vol.img"), "%s (in the pool) detached:\n%s", inPool, out)
	assert.Contains(t, out, filepath.Join(other, "vol.img"), "%s (beside the pool) kept:\n%s", beside, out)
}
