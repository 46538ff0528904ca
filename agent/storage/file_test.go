package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
	"github.com/piraeusctl/piraeusctl/hostexec"
	"github.com/piraeusctl/piraeusctl/internal/testsupport"
)

// requireRoot fails (never skips silently) when the real loop-device test
// cannot run, unless integration tests are switched off explicitly.
func requireRoot(t *testing.T) {
	t.Helper()
	testsupport.RequireRoot(t, "the FILE provider test (real loop devices)", "losetup", "truncate", "fallocate", "mkfs.ext4", "mount", "umount")
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), name, args...).CombinedOutput()
	require.NoError(t, err, "%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	return string(out)
}

// TestFileProvidersForReal creates a volume on a real loop device, puts an
// ext4 file system with data on it, grows it, checks the data and removes
// it, leaving no loop device and no file behind.
func TestFileProvidersForReal(t *testing.T) {
	requireRoot(t)
	for _, kind := range []agentv1.ProviderKind{agentv1.ProviderKind_FILE_THIN, agentv1.ProviderKind_FILE} {
		t.Run(kind.String(), func(t *testing.T) { fileLifecycle(t, kind) })
	}
}

func fileLifecycle(t *testing.T, kind agentv1.ProviderKind) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "pool")
	rec := &hostexec.Recorder{Next: &hostexec.Local{}}
	p, err := New(&agentv1.StoragePool{Name: "files", ProviderKind: kind, Directory: dir}, rec)
	require.NoError(t, err)
	changed, err := p.Ensure(ctx)
	require.False(t, err != nil || !changed, "Ensure: %v %v", changed, err)
	changed, err = p.Ensure(ctx)
	require.False(t, err != nil || changed, "second Ensure must do nothing: %v %v", changed, err)
	v, err := p.Create(ctx, "pvc-real_00000", "uid-1", 32*1024)
	require.NoError(t, err)
	// By backing file, never by v.DevicePath: Delete detaches that device,
	// and its number may belong to another test's volume by cleanup time.
	t.Cleanup(func() { _ = DetachLoopsUnder(context.Background(), &hostexec.Local{}, dir) })
	checkAllocation(t, kind, v.Object, 32*1024*1024)

	run(t, "mkfs.ext4", "-q", v.DevicePath)
	mnt := t.TempDir()
	run(t, "mount", v.DevicePath, mnt)
	data := bytes.Repeat([]byte("piraeusctl"), 100000)
	require.NoError(t, os.WriteFile(filepath.Join(mnt, "data"), data, 0o644))
	run(t, "umount", mnt)

	// A fresh listing finds the volume, its uid and its loop device.
	vols, err := p.Volumes(ctx)
	require.False(t, err != nil || len(vols) != 1 || vols[0].DevicePath != v.DevicePath || vols[0].UID != "uid-1" || vols[0].SizeKiB != 32*1024, "Volumes = %+v, %v; want the one volume on %s", vols, err, v.DevicePath)
	v, err = p.Grow(ctx, vols[0], 64*1024)
	require.NoError(t, err)
	got := strings.TrimSpace(run(t, "blockdev", "--getsize64", v.DevicePath))
	require.Equal(t, "67108864", got, "loop device size after grow = %s, want 67108864", got)
	run(t, "e2fsck", "-fy", v.DevicePath)
	run(t, "resize2fs", v.DevicePath)
	run(t, "mount", v.DevicePath, mnt)
	after, err := os.ReadFile(filepath.Join(mnt, "data"))
	run(t, "umount", mnt)
	require.NoError(t, err)
	require.Equal(t, sha256.Sum256(data), sha256.Sum256(after), "data after grow differs")

	require.NoError(t, p.Delete(ctx, v))
	out := run(t, "losetup", "--list", "--noheadings", "--output", "NAME,BACK-FILE")
	assert.NotContains(t, out, dir, "a loop device still uses the pool:\n%s", out)
	entries, _ := os.ReadDir(dir)
	assert.Len(t, entries, 0, "files left in the pool: %v", entries)
	vols, err = p.Volumes(ctx)
	assert.False(t, err != nil || len(vols) != 0, "Volumes after delete = %v, %v", vols, err)
	c, err := p.Capacity(ctx)
	assert.False(t, err != nil || c.TotalKiB == 0 || c.FreeKiB > c.TotalKiB, "capacity = %+v, %v", c, err)
}

// checkAllocation checks that FILE preallocates and FILE_THIN stays sparse.
func checkAllocation(t *testing.T, kind agentv1.ProviderKind, path string, size int64) {
	t.Helper()
	out := strings.TrimSpace(run(t, "stat", "--format", "%s %b %B", path))
	var apparent, blocks, blockSize int64
	_, err := fmt.Sscan(out, &apparent, &blocks, &blockSize)
	require.NoError(t, err)
	allocated := blocks * blockSize
	assert.Equal(t, size, apparent, "file size = %d, want %d", apparent, size)
	assert.False(t, kind == agentv1.ProviderKind_FILE && allocated < size, "FILE backing file allocates %d of %d bytes, want all", allocated, size)
	assert.False(t, kind == agentv1.ProviderKind_FILE_THIN && allocated > size/8, "FILE_THIN backing file allocates %d of %d bytes, want sparse", allocated, size)
}

func TestParseBackingFile(t *testing.T) {
	for _, tt := range []struct {
		name string
		ok   bool
		want Volume
	}{
		{"pvc-1_00000.9d2c41d6-0f1e.img", true, Volume{Name: "pvc-1_00000", Resource: "pvc-1", UID: "9d2c41d6-0f1e"}},
		{"a.b_00002.u1.img", true, Volume{Name: "a.b_00002", Resource: "a.b", Number: 2, UID: "u1"}},
		{"pvc-1_00000.img", false, Volume{}},
		{"pvc-1_00000.u.raw", false, Volume{}},
		{"other.u1.img", false, Volume{}},
	} {
		got, ok := parseBackingFile(tt.name)
		assert.False(t, ok != tt.ok || got != tt.want, "parseBackingFile(%q) = %+v %v", tt.name, got, ok)
	}
}
