package lab_test

import (
	"fmt"
	"strings"
	"testing"

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
			if p.GetOutcome() != agentv1.Outcome_CHANGED {
				t.Errorf("pool %s: outcome %s, want CHANGED (created)", p.GetName(), p.GetOutcome())
			}
		}
		lv := lvs(t, vm, vgName)
		for name, mib := range map[string]uint64{"thin-1_00000": 64, "thin-2_00000": 32} {
			if got := kib(t, lv[name].SizeKiB); got != mib<<10 || lv[name].Pool != "thin" {
				t.Errorf("lvs %s: %d KiB in pool %q, want %d KiB in thin", name, got, lv[name].Pool, mib<<10)
			}
		}
		sums = writeAll(t, c, vm, []string{"thin-1", "thin-2", "file-1"})
	})
	checkCapacity(t, c, vm)

	timed(t, "pools: grow thin-1 and file-1", func() {
		desired.Resources[0].Volumes[0].SizeKib = 96 << 10
		desired.Resources[2].Volumes[0].SizeKib = 48 << 10
		apply(t, c, vm, desired)
		if got := kib(t, lvs(t, vm, vgName)["thin-1_00000"].SizeKiB); got != 96<<10 {
			t.Errorf("thin-1 after resize: %d KiB, want %d", got, 96<<10)
		}
		st := nodeStatus(t, c, vm)
		for _, name := range []string{"thin-1", "file-1"} {
			dev := findResource(st, name).GetVolumes()[0].GetDevicePath()
			size := strings.TrimSpace(sh(t, vm, "blockdev --getsize64 "+dev))
			want := map[string]string{"thin-1": fmt.Sprint(96 << 20), "file-1": fmt.Sprint(48 << 20)}[name]
			if size != want {
				t.Errorf("%s: device %s has %s bytes, want %s", name, dev, size, want)
			}
			if got := checksum(t, vm, dev, 4); got != sums[name] {
				t.Errorf("%s: data changed by the resize", name)
			}
		}
	})
	timed(t, "pools: no-op converge", func() {
		if res := apply(t, c, vm, desired); res.GetMutatingCommandsRun() != 0 {
			t.Errorf("no-op converge ran %d mutating commands", res.GetMutatingCommandsRun())
		}
	})
	timed(t, "pools: delete all volumes", func() {
		deleteAll(t, c, vm, desired)
		lv := lvs(t, vm, vgName)
		if len(lv) != 1 || lv["thin"].Name == "" {
			t.Errorf("after delete, lvs shows %v; want only the thin pool", lv)
		}
		if out := sh(t, vm, "ls -A "+filesDir+"; /usr/sbin/losetup --list --noheadings"); strings.TrimSpace(out) != "" {
			t.Errorf("after delete, left behind in %s or as loop devices:\n%s", filesDir, out)
		}
		desired.Resources = nil
		if res := apply(t, c, vm, desired); len(res.GetOrphans()) != 0 || res.GetMutatingCommandsRun() != 0 {
			t.Errorf("empty desired state: orphans %v, %d mutating commands", res.GetOrphans(), res.GetMutatingCommandsRun())
		}
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
		if r == nil || len(r.GetVolumes()) != 1 || r.GetVolumes()[0].GetDevicePath() == "" {
			t.Fatalf("status has no device for %s: %v", name, r)
		}
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
	if p.GetCapacityKib() != total {
		t.Errorf("thin pool capacity %d KiB, lvs says %d KiB", p.GetCapacityKib(), total)
	}
	wantFree := uint64(float64(total) * (100 - used) / 100)
	if diff := int64(p.GetFreeKib()) - int64(wantFree); diff < -1 || diff > 1 {
		t.Errorf("thin pool free %d KiB, lvs says %d KiB (%s%% used)", p.GetFreeKib(), wantFree, tp.DataPercent)
	}
	var blocks, bsize, avail uint64
	fmt.Sscan(sh(t, vm, "stat -f -c '%b %S %a' "+filesDir), &blocks, &bsize, &avail)
	f := findPool(st, poolFiles)
	if f.GetCapacityKib() != blocks*bsize/1024 {
		t.Errorf("file pool capacity %d KiB, statfs says %d KiB", f.GetCapacityKib(), blocks*bsize/1024)
	}
	t.Logf("capacity: thin pool %d KiB (%d free, lvs %s%% used); file pool %d KiB", total, p.GetFreeKib(), tp.DataPercent, f.GetCapacityKib())
}

func deleteAll(t *testing.T, c *labCluster, vm *labVM, d *agentv1.NodeDesiredState) {
	t.Helper()
	for _, r := range d.GetResources() {
		_, err := c.Agent(vm).DeleteResource(t.Context(), &agentv1.DeleteResourceRequest{
			NodeName: vm.Name, Name: r.GetName(), Uid: r.GetUid(), StoragePools: d.GetStoragePools()})
		if err != nil {
			t.Fatalf("delete %s: %v", r.GetName(), err)
		}
	}
}
