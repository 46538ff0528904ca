package agent

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
	"github.com/piraeusctl/piraeusctl/hostexec"
)

const (
	snapUID1 = "5b0e7a52-1c39-4d0b-9d4c-6c1f8f3b2e01"
	uid2     = "0f6b8f0e-7d2a-4c55-8e3d-2a7c9b1d4e22"
)

// snap1 is snapshot "snap1" of pvc-1 on node-a's thin pool.
func snap1(take bool) *agentv1.Snapshot {
	return &agentv1.Snapshot{Resource: "pvc-1", ResourceUid: uid1, Name: "snap1", Uid: snapUID1, Take: take,
		Volumes: []*agentv1.SnapshotVolume{{Number: 0, StoragePool: "thin"}}}
}

// pvc2 is a DRBD resource on node-a alone, restored from snap1.
func pvc2() *agentv1.Resource {
	return &agentv1.Resource{Name: "pvc-2", Uid: uid2,
		Volumes:     []*agentv1.Volume{{Number: 0, Minor: 1001, SizeKib: 1 << 20, StoragePool: "thin"}},
		Drbd:        &agentv1.DrbdResource{Port: 7001, Address: "10.0.0.1", InitialPrimary: true},
		RestoreFrom: &agentv1.SnapshotSource{Resource: "pvc-1", Snapshot: "snap1", Uid: snapUID1}}
}

// TestSnapshotLVMThinGolden: a snapshot of a DRBD resource is a thin
// snapshot taken with I/O suspended; taking it again costs nothing; the
// status says taken; a restore is a thin snapshot of the snapshot made a
// volume of its own; deleting the snapshot needs its uid.
func TestSnapshotLVMThinGolden(t *testing.T) {
	f := upNodeA(t)
	d := desired("node-a", pvc1("node-a"))
	d.Snapshots = []*agentv1.Snapshot{snap1(true)}
	res, log := f.apply(d)
	goldenCmds(t, "snapshot-lvm-thin", log)
	require.Len(t, res.Snapshots, 1)
	assert.Equal(t, agentv1.Outcome_CHANGED, res.Snapshots[0].Outcome, "snapshot result %v", res.Snapshots[0])
	assert.EqualValues(t, 3, res.MutatingCommandsRun, "want suspend-io, lvcreate --snapshot, resume-io")
	assertNoop(t, f, d)
	d.Snapshots[0].Take = false // taken: the controller keeps it without take
	assertNoop(t, f, d)
	st := f.agent.Status(t.Context())
	require.Len(t, st.Snapshots, 1)
	assert.True(t, st.Snapshots[0].Taken && st.Snapshots[0].Uid == snapUID1 && st.Snapshots[0].Error == "", "status %v", st.Snapshots[0])
	assert.Empty(t, st.Orphans, "a desired snapshot is no orphan")

	d.Resources = append(d.Resources, pvc2())
	res, log = f.apply(d)
	goldenCmds(t, "restore-lvm-thin", log)
	assert.Equal(t, agentv1.Outcome_CHANGED, res.Resources[1].Outcome, "restore %v", res.Resources[1])
	assert.Equal(t, "restore volume 0 in pool thin from snapshot pvc-1/snap1", res.Resources[1].Actions[0])
	assert.True(t, f.host.hasLV("vg0", "pvc-2_00000"))
	st = f.agent.Status(t.Context())
	assert.Equal(t, uid2, st.Resources[1].Uid, "the restored volume carries its own uid: %v", st.Resources[1])
	assertNoop(t, f, d)

	// Omitting the snapshot deletes nothing: it is an orphan.
	d.Snapshots = nil
	res, _ = f.apply(d)
	assert.Empty(t, f.rec.Mutating(), "omitting a snapshot ran commands")
	assert.True(t, hasOrphan(res.Orphans, agentv1.Orphan_SNAPSHOT, "pvc-1", snapUID1), "orphans %v", res.Orphans)

	req := &agentv1.DeleteSnapshotRequest{NodeName: "node-a", Resource: "pvc-1", Name: "snap1", Uid: "other", StoragePools: []*agentv1.StoragePool{thinPool()}}
	f.rec.Reset()
	_, err := f.agent.DeleteSnapshot(t.Context(), req)
	var conflict *ConflictError
	require.True(t, errors.As(err, &conflict), "wrong uid: want ConflictError, got %v", err)
	assert.Empty(t, f.rec.Mutating())
	req.Uid = snapUID1
	dres, err := f.agent.DeleteSnapshot(t.Context(), req)
	require.NoError(t, err)
	goldenCmds(t, "delete-snapshot-lvm-thin", f.log())
	assert.EqualValues(t, 1, dres.MutatingCommandsRun)
	assert.False(t, f.host.hasLV("vg0", "pvc-1_00000.snap1"), "snapshot LV left behind")
	assert.True(t, f.host.hasLV("vg0", "pvc-2_00000") && f.host.hasLV("vg0", "pvc-1_00000"), "deleting the snapshot touched a volume")
	dres, err = f.agent.DeleteSnapshot(t.Context(), req)
	assert.False(t, err != nil || len(dres.Actions) != 0, "second delete: %v %v", dres, err)
}

func hasOrphan(os []*agentv1.Orphan, kind agentv1.Orphan_Kind, resource, uid string) bool {
	for _, o := range os {
		if o.Kind == kind && o.Resource == resource && o.Uid == uid {
			return true
		}
	}
	return false
}

// TestSnapshotNotRetaken: a snapshot that was taken (take unset) and is
// missing is reported, never taken again from newer data.
func TestSnapshotNotRetaken(t *testing.T) {
	f := upNodeA(t)
	d := desired("node-a", pvc1("node-a"))
	d.Snapshots = []*agentv1.Snapshot{snap1(false)}
	res, _ := f.apply(d)
	assert.Empty(t, f.rec.Mutating(), "ran:\n%s", hostexec.FormatLog(f.rec.Mutating()))
	require.Equal(t, agentv1.Outcome_FAILED, res.Snapshots[0].Outcome)
	st := f.agent.Status(t.Context())
	assert.False(t, st.Snapshots[0].Taken || !strings.Contains(st.Snapshots[0].Error, "missing"), "status %v", st.Snapshots[0])
}

// TestRestoreNeedsTheSnapshot: a restore whose snapshot is not on the node
// (or carries another uid) creates nothing, rather than an empty volume.
func TestRestoreNeedsTheSnapshot(t *testing.T) {
	f := upNodeA(t)
	d := desired("node-a", pvc1("node-a"), pvc2())
	res, _ := f.apply(d)
	assert.Equal(t, agentv1.Outcome_FAILED, res.Resources[1].Outcome)
	assert.Contains(t, res.Resources[1].Message, "not in pool thin")
	assert.Empty(t, f.rec.Mutating())
	d.Snapshots = []*agentv1.Snapshot{snap1(true)}
	d.Resources = d.Resources[:1]
	f.apply(d)
	r := pvc2()
	r.RestoreFrom.Uid = "someone-else"
	res, _ = f.apply(desired("node-a", pvc1("node-a"), r))
	assert.False(t, res.Resources[1].Outcome != agentv1.Outcome_FAILED || !strings.Contains(res.Resources[1].Message, "someone-else"), "%v", res.Resources[1])
	assert.False(t, f.host.hasLV("vg0", "pvc-2_00000"))
}

func TestSnapshotRejects(t *testing.T) {
	for name, mutate := range map[string]func(d *agentv1.NodeDesiredState){
		"bad name":     func(d *agentv1.NodeDesiredState) { d.Snapshots[0].Name = "a.b" },
		"underscore":   func(d *agentv1.NodeDesiredState) { d.Snapshots[0].Name = "a_b" },
		"bad uid":      func(d *agentv1.NodeDesiredState) { d.Snapshots[0].Uid = "" },
		"unknown pool": func(d *agentv1.NodeDesiredState) { d.Snapshots[0].Volumes[0].StoragePool = "nope" },
		"repeated":     func(d *agentv1.NodeDesiredState) { d.Snapshots = append(d.Snapshots, snap1(true)) },
		"no volumes":   func(d *agentv1.NodeDesiredState) { d.Snapshots[0].Volumes = nil },
		"restore name": func(d *agentv1.NodeDesiredState) {
			d.Resources = append(d.Resources, pvc2())
			d.Resources[1].RestoreFrom.Snapshot = ""
		},
		"resource name": func(d *agentv1.NodeDesiredState) { d.Snapshots[0].Resource = "a/b" },
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, "node-a")
			d := desired("node-a", pvc1("node-a"))
			d.Snapshots = []*agentv1.Snapshot{snap1(true)}
			mutate(d)
			var inv *InvalidError
			_, err := f.agent.Apply(t.Context(), d)
			assert.True(t, errors.As(err, &inv), "want InvalidError, got %v", err)
			assert.Empty(t, f.rec.Commands())
		})
	}
	_ = filepath.Join
}
