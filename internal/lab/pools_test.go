package lab_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
)

const (
	poolThin  = "thin"
	poolFiles = "files"
	vgName    = "vg0"
	filesDir  = "/var/lib/piraeusctl/files"
)

func labPools(disk string) []*agentv1.StoragePool {
	return []*agentv1.StoragePool{
		{Name: poolThin, ProviderKind: agentv1.ProviderKind_LVM_THIN, VolumeGroup: vgName, ThinPool: "thin", HostDevices: []string{disk}},
		{Name: poolFiles, ProviderKind: agentv1.ProviderKind_FILE_THIN, Directory: filesDir},
	}
}

func storageOnly(name, pool string, sizeMiB uint64) *agentv1.Resource {
	return &agentv1.Resource{
		Name: name, Uid: "uid-" + name, Layers: []agentv1.Layer{agentv1.Layer_STORAGE},
		Volumes: []*agentv1.Volume{{Number: 0, SizeKib: sizeMiB << 10, StoragePool: pool}},
	}
}

// scenarioPools: the agent builds a volume group and thin pool from the
// VM's raw disk, creates thin volumes and a FILE_THIN volume, resizes one,
// deletes them all, and leaves nothing behind but the thin pool; the
// capacity it reports is what vgs/lvs say.
func scenarioPools(t *testing.T, c *labCluster, vm *labVM) {
	desired := &agentv1.NodeDesiredState{NodeName: vm.Name, StoragePools: labPools(vm.Disk), Resources: []*agentv1.Resource{
		storageOnly("thin-1", poolThin, 64), storageOnly("thin-2", poolThin, 32), storageOnly("file-1", poolFiles, 32),
	}}
	var sums map[string]string
	timed(t, "pools: create VG, thin pool, 3 volumes", func() {
		res := apply(t, c, vm, desired)
		for _, p := range res.GetPools() {
			assert.Equal(t, agentv1.Outcome_CHANGED, p.GetOutcome(), "pool %s: outcome %s, want CHANGED (created)", p.GetName(), p.GetOutcome())
		}
		lv := lvs(t, vm, vgName)
		for name, mib := range map[string]uint64{"thin-1_00000": 64, "thin-2_00000": 32} {
			got := kib(t, lv[name].SizeKiB)
			assert.False(t, got != mib<<10 || lv[name].Pool != "thin", "lvs %s: %d KiB in pool %q, want %d KiB in thin", name, got, lv[name].Pool, mib<<10)
		}
		sums = writeAll(t, c, vm, []string{"thin-1", "thin-2", "file-1"})
	})
	checkCapacity(t, c, vm)

	timed(t, "pools: grow thin-1 and file-1", func() {
		desired.Resources[0].Volumes[0].SizeKib = 96 << 10
		desired.Resources[2].Volumes[0].SizeKib = 48 << 10
		apply(t, c, vm, desired)
		got := kib(t, lvs(t, vm, vgName)["thin-1_00000"].SizeKiB)
		assert.Equal(t, uint64(96<<10), got, "thin-1 after resize: KiB")
		st := nodeStatus(t, c, vm)
		for _, name := range []string{"thin-1", "file-1"} {
			dev := findResource(st, name).GetVolumes()[0].GetDevicePath()
			size := strings.TrimSpace(sh(t, vm, "blockdev --getsize64 "+dev))
			want := map[string]string{"thin-1": fmt.Sprint(96 << 20), "file-1": fmt.Sprint(48 << 20)}[name]
			assert.Equal(t, want, size, "%s: device %s has %s bytes, want %s", name, dev, size, want)
			got := checksum(t, vm, dev, 4)
			assert.Equal(t, sums[name], got, "%s: data changed by the resize", name)
		}
	})
	timed(t, "pools: no-op converge", func() {
		res := apply(t, c, vm, desired)
		assert.EqualValues(t, 0, res.GetMutatingCommandsRun(), "no-op converge ran %d mutating commands", res.GetMutatingCommandsRun())
	})
	timed(t, "pools: delete all volumes", func() {
		deleteAll(t, c, vm, desired)
		lv := lvs(t, vm, vgName)
		assert.False(t, len(lv) != 1 || lv["thin"].Name == "", "after delete, lvs shows %v; want only the thin pool", lv)
		out := sh(t, vm, "ls -A "+filesDir+"; /usr/sbin/losetup --list --noheadings")
		assert.Equal(t, "", strings.TrimSpace(out), "after delete, left behind in %s or as loop devices:\n%s", filesDir, out)
		desired.Resources = nil
		res := apply(t, c, vm, desired)
		assert.False(t, len(res.GetOrphans()) != 0 || res.GetMutatingCommandsRun() != 0, "empty desired state: orphans %v, %d mutating commands", res.GetOrphans(), res.GetMutatingCommandsRun())
	})
	checkCapacity(t, c, vm)
}

// writeAll writes 4 MiB of random data to each resource's device.
func writeAll(t *testing.T, c *labCluster, vm *labVM, names []string) map[string]string {
	t.Helper()
	st := nodeStatus(t, c, vm)
	sums := map[string]string{}
	for _, name := range names {
		r := findResource(st, name)
		require.False(t, r == nil || len(r.GetVolumes()) != 1 || r.GetVolumes()[0].GetDevicePath() == "", "status has no device for %s: %v", name, r)
		sums[name] = writePattern(t, vm, r.GetVolumes()[0].GetDevicePath(), 4)
	}
	return sums
}

// checkCapacity compares the agent's pool capacity with lvs and statfs.
func checkCapacity(t *testing.T, c *labCluster, vm *labVM) {
	t.Helper()
	st := nodeStatus(t, c, vm)
	tp := lvs(t, vm, vgName)["thin"]
	total := kib(t, tp.SizeKiB)
	var used float64
	fmt.Sscan(tp.DataPercent, &used)
	p := findPool(st, poolThin)
	assert.Equal(t, total, p.GetCapacityKib(), "thin pool capacity %d KiB, lvs says %d KiB", p.GetCapacityKib(), total)
	wantFree := uint64(float64(total) * (100 - used) / 100)
	diff := int64(p.GetFreeKib()) - int64(wantFree)
	assert.False(t, diff < -1 || diff > 1, "thin pool free %d KiB, lvs says %d KiB (%s%% used)", p.GetFreeKib(), wantFree, tp.DataPercent)
	var blocks, bsize, avail uint64
	fmt.Sscan(sh(t, vm, "stat -f -c '%b %S %a' "+filesDir), &blocks, &bsize, &avail)
	f := findPool(st, poolFiles)
	assert.Equal(t, blocks*bsize/1024, f.GetCapacityKib(), "file pool capacity %d KiB, statfs says %d KiB", f.GetCapacityKib(), blocks*bsize/1024)
	t.Logf("capacity: thin pool %d KiB (%d free, lvs %s%% used); file pool %d KiB", total, p.GetFreeKib(), tp.DataPercent, f.GetCapacityKib())
}

func deleteAll(t *testing.T, c *labCluster, vm *labVM, d *agentv1.NodeDesiredState) {
	t.Helper()
	for _, r := range d.GetResources() {
		_, err := c.Agent(vm).DeleteResource(t.Context(), &agentv1.DeleteResourceRequest{
			NodeName: vm.Name, Name: r.GetName(), Uid: r.GetUid(), StoragePools: d.GetStoragePools()})
		require.NoError(t, err, "delete %s", r.GetName())
	}
}
