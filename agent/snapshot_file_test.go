package agent

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/agent/storage"
	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
	"github.com/piraeusctl/piraeusctl/hostexec"
	"github.com/piraeusctl/piraeusctl/internal/testsupport"
)

// goldenPoolDir stands for the test's pool directory in goldens.
const goldenPoolDir = "/var/lib/piraeusctl/pools/files"

// fileRes is a storage-only resource of 16 MiB in pool "files".
func fileRes(name, uid string) *agentv1.Resource {
	return &agentv1.Resource{Name: name, Uid: uid, Layers: []agentv1.Layer{agentv1.Layer_STORAGE},
		Volumes: []*agentv1.Volume{{Number: 0, SizeKib: 16 << 10, StoragePool: "files"}}}
}

// TestSnapshotFileForReal takes a snapshot of a volume on a real loop
// device, restores it into a new volume and checks that the data written
// before the snapshot is there and the data written after is not; deleting
// the origin and the snapshot leaves the restored volume intact.
func TestSnapshotFileForReal(t *testing.T) {
	testsupport.RequireRoot(t, "the FILE snapshot test (real loop devices)", "losetup", "truncate", "fallocate", "cp", "blockdev")
	for _, kind := range []agentv1.ProviderKind{agentv1.ProviderKind_FILE_THIN, agentv1.ProviderKind_FILE} {
		t.Run(kind.String(), func(t *testing.T) { fileSnapshotLifecycle(t, kind) })
	}
}

func fileSnapshotLifecycle(t *testing.T, kind agentv1.ProviderKind) {
	dir := filepath.Join(t.TempDir(), "pool")
	t.Cleanup(func() { _ = storage.DetachLoopsUnder(context.Background(), &hostexec.Local{}, dir) })
	rec := &hostexec.Recorder{Next: &hostexec.Local{Logger: slog.New(slog.DiscardHandler)}}
	a, err := New(Config{NodeName: "node-a", ConfigDir: t.TempDir(), Exec: rec, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	pool := &agentv1.StoragePool{Name: "files", ProviderKind: kind, Directory: dir}
	d := &agentv1.NodeDesiredState{NodeName: "node-a", StoragePools: []*agentv1.StoragePool{pool}, Resources: []*agentv1.Resource{fileRes("pvc-1", uid1)}}
	var transcript strings.Builder
	apply := func(step string) *agentv1.ApplyResult {
		t.Helper()
		rec.Reset()
		res, err := a.Apply(t.Context(), d)
		require.NoError(t, err)
		for _, r := range res.Resources {
			require.NotEqual(t, agentv1.Outcome_FAILED, r.Outcome, "%s: %s: %s", step, r.Name, r.Message)
		}
		for _, s := range res.Snapshots {
			require.NotEqual(t, agentv1.Outcome_FAILED, s.Outcome, "%s: snapshot %s: %s", step, s.Name, s.Message)
		}
		fmt.Fprintf(&transcript, "# %s\n%s", step, hostexec.FormatLog(rec.Mutating()))
		return res
	}
	apply("Apply pvc-1")
	dev1 := deviceOf(t, a, "pvc-1")
	before, after := bytes.Repeat([]byte("before-snapshot "), 4096), bytes.Repeat([]byte("after-snapshot! "), 4096)
	writeAt(t, dev1, before, 0)

	d.Snapshots = []*agentv1.Snapshot{{Resource: "pvc-1", ResourceUid: uid1, Name: "snap1", Uid: snapUID1, Take: true,
		Volumes: []*agentv1.SnapshotVolume{{Number: 0, StoragePool: "files"}}}}
	apply("Apply with snapshot snap1 of pvc-1")
	writeAt(t, dev1, after, 0)
	writeAt(t, dev1, after, 8<<20)

	d.Resources = append(d.Resources, fileRes("pvc-2", uid2))
	d.Resources[1].RestoreFrom = &agentv1.SnapshotSource{Resource: "pvc-1", Snapshot: "snap1", Uid: snapUID1}
	apply("Apply pvc-2 restored from snap1")
	dev2 := deviceOf(t, a, "pvc-2")
	assert.Equal(t, before, readAt(t, dev2, len(before), 0), "the restored volume must hold the data written before the snapshot")
	assert.Equal(t, make([]byte, len(after)), readAt(t, dev2, len(after), 8<<20), "the restored volume must not hold data written after the snapshot")
	res := apply("Apply again (steady state)")
	assert.Zero(t, res.MutatingCommandsRun, "a steady state ran mutating commands")
	if kind == agentv1.ProviderKind_FILE_THIN {
		checkSparse(t, filepath.Join(dir, "pvc-2_00000."+uid2+".img"))
	}

	// The origin and the snapshot go; the restored volume stays whole.
	d.Resources, d.Snapshots = d.Resources[1:], nil
	apply("Apply without pvc-1 and snap1 (orphans, nothing deleted)")
	rec.Reset()
	_, err = a.DeleteResource(t.Context(), &agentv1.DeleteResourceRequest{NodeName: "node-a", Name: "pvc-1", Uid: uid1, StoragePools: d.StoragePools})
	require.NoError(t, err)
	_, err = a.DeleteSnapshot(t.Context(), &agentv1.DeleteSnapshotRequest{NodeName: "node-a", Resource: "pvc-1", Name: "snap1", Uid: snapUID1, StoragePools: d.StoragePools})
	require.NoError(t, err)
	fmt.Fprintf(&transcript, "# DeleteResource pvc-1, DeleteSnapshot pvc-1/snap1\n%s", hostexec.FormatLog(rec.Mutating()))
	assert.Equal(t, before, readAt(t, dev2, len(before), 0), "the restored volume after its origin and snapshot were deleted")
	_, err = a.DeleteResource(t.Context(), &agentv1.DeleteResourceRequest{NodeName: "node-a", Name: "pvc-2", Uid: uid2, StoragePools: d.StoragePools})
	require.NoError(t, err)
	entries, _ := os.ReadDir(dir)
	assert.Empty(t, entries, "files left in the pool")
	if kind == agentv1.ProviderKind_FILE_THIN {
		goldenCmds(t, "snapshot-file-thin", normalizeHost(transcript.String(), dir))
	}
}

func deviceOf(t *testing.T, a *Agent, name string) string {
	t.Helper()
	for _, r := range a.Status(t.Context()).Resources {
		if r.Name == name && len(r.Volumes) > 0 && r.Volumes[0].DevicePath != "" {
			return r.Volumes[0].DevicePath
		}
	}
	require.FailNow(t, "no device of "+name)
	return ""
}

// checkSparse: a restored FILE_THIN volume keeps the snapshot's holes.
func checkSparse(t *testing.T, path string) {
	t.Helper()
	out, err := exec.Command("stat", "--format", "%s %b %B", path).Output()
	require.NoError(t, err)
	var size, blocks, bs int64
	_, err = fmt.Sscan(string(out), &size, &blocks, &bs)
	require.NoError(t, err)
	assert.Less(t, blocks*bs, size/2, "restored FILE_THIN file allocates %d of %d bytes, want sparse", blocks*bs, size)
}

var loopDevicePattern = regexp.MustCompile(`/dev/loop[0-9]+`)

// normalizeHost replaces the pool directory and loop device numbers (in
// order of appearance) so the transcript is a stable golden.
func normalizeHost(s, dir string) string {
	s = strings.ReplaceAll(s, dir, goldenPoolDir)
	seen := map[string]string{}
	return loopDevicePattern.ReplaceAllStringFunc(s, func(dev string) string {
		if _, ok := seen[dev]; !ok {
			seen[dev] = fmt.Sprintf("/dev/loop%c", 'A'+len(seen))
		}
		return seen[dev]
	})
}
