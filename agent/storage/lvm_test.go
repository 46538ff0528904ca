package storage

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
	"github.com/piraeusctl/piraeusctl/hostexec"
	"github.com/piraeusctl/piraeusctl/internal/golden"
)

func readFixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "lvm", name))
	require.NoError(t, err)
	return string(b)
}

const (
	vgsCmd = "vgs --reportformat json --units b --nosuffix --options vg_name,vg_size,vg_free,vg_extent_size capvg"
	lvsCmd = "lvs --reportformat json --units b --nosuffix --options lv_name,lv_path,lv_size,lv_attr,pool_lv,data_percent,lv_tags capvg"
)

func TestParseRealVGs(t *testing.T) {
	vgs, err := ParseVGs([]byte(readFixture(t, "vgs-capvg.json")))
	require.NoError(t, err)
	want := []VGReport{{Name: "capvg", SizeBytes: 205520896, FreeBytes: 92274688, ExtentBytes: 4194304}}
	assert.Equal(t, want, vgs, "(-want +got):")
}

func TestParseRealLVs(t *testing.T) {
	lvs, err := ParseLVs([]byte(readFixture(t, "lvs-capvg.json")))
	require.NoError(t, err)
	require.Len(t, lvs, 4, "got %d LVs, want 4 (hidden LVs are not listed without -a)", len(lvs))
	want := LVReport{Name: "pvc-b_00000", Path: "/dev/capvg/pvc-b_00000", SizeBytes: 41943040, Attr: "Vwi-XXtz--",
		PoolLV: "thinpool", DataPercent: -1, Tags: []string{"piraeusctl", "piraeusctl_uid_5b0e2f3a-6c1d-4e8b-9f27-3d4a5b6c7d88"}}
	assert.Equal(t, want, lvs[2], "(-want +got):")
	assert.False(t, !lvs[3].IsThinPool() || lvs[2].IsThinPool(), "thin pool detection")
	active, err := ParseLVs([]byte(readFixture(t, "lvs-active.json")))
	require.False(t, err != nil || active[3].DataPercent != 25, "active: %v %v", active, err)
}

func TestParseLVMRejects(t *testing.T) {
	_, err := ParseLVs([]byte(readFixture(t, "lvs-capvg-suffix.json")))
	assert.Error(t, err, "sizes like 8.00m must be rejected: the agent asks for --units b")
	for _, in := range []string{"", "{", `{"report":[{"lv":[{"lv_size":"1"}]}]}`, `{"report":[{"lv":[{"lv_name":"a","lv_size":"1","data_percent":"300"}]}]}`} {
		_, err := ParseLVs([]byte(in))
		assert.Error(t, err, "lvs %q: want error", in)
	}
	for _, in := range []string{"", `{"report":[{"vg":[{"vg_name":"a","vg_size":"x","vg_free":"1"}]}]}`, `{"report":[{"vg":[{"vg_size":"1","vg_free":"1"}]}]}`} {
		_, err := ParseVGs([]byte(in))
		assert.Error(t, err, "vgs %q: want error", in)
	}
}

func TestLVMThinVolumesAndCapacity(t *testing.T) {
	script := hostexec.NewScript(
		hostexec.Step{Line: lvsCmd, Stdout: readFixture(t, "lvs-active.json")},
		hostexec.Step{Line: lvsCmd, Stdout: readFixture(t, "lvs-active.json")},
	)
	p, err := New(&agentv1.StoragePool{Name: "thin", ProviderKind: agentv1.ProviderKind_LVM_THIN, VolumeGroup: "capvg", ThinPool: "thinpool"}, script)
	require.NoError(t, err)
	vols, err := p.Volumes(t.Context())
	require.NoError(t, err)
	want := []Volume{{Name: "pvc-b_00000", Resource: "pvc-b", Number: 0, UID: "5b0e2f3a-6c1d-4e8b-9f27-3d4a5b6c7d88",
		SizeKiB: 40960, DevicePath: "/dev/capvg/pvc-b_00000", Object: "capvg/pvc-b_00000"}}
	assert.Equal(t, want, vols, "volumes: untagged (foreign) and thick LVs must not show")
	c, err := p.Capacity(t.Context())
	require.NoError(t, err)
	assert.False(t, c.TotalKiB != 81920 || c.FreeKiB != 61440, "capacity = %+v, want 81920 total, 61440 free (25%% used)", c)
}

// TestLVMPoolCreationGolden records the exact commands that build pools
// from raw host devices.
func TestLVMPoolCreationGolden(t *testing.T) {
	notFound := hostexec.Step{Line: vgsCmd, ExitCode: 5, Stderr: readFixture(t, "vgs-notfound.stderr")}
	emptyLVs := `{"report":[{"lv":[]}]}`
	tests := map[string]struct {
		pool  *agentv1.StoragePool
		steps []hostexec.Step
	}{
		"lvm-from-host-devices": {
			pool: &agentv1.StoragePool{Name: "lvm", ProviderKind: agentv1.ProviderKind_LVM, VolumeGroup: "capvg", HostDevices: []string{"/dev/vdb", "/dev/vdc"}},
			steps: []hostexec.Step{notFound,
				{Line: "pvcreate --yes /dev/vdb /dev/vdc"}, {Line: "vgcreate capvg /dev/vdb /dev/vdc"},
				{Line: vgsCmd, Stdout: readFixture(t, "vgs-capvg.json")}},
		},
		"lvm-thin-from-host-devices": {
			pool: &agentv1.StoragePool{Name: "thin", ProviderKind: agentv1.ProviderKind_LVM_THIN, VolumeGroup: "capvg", ThinPool: "thinpool", HostDevices: []string{"/dev/vdb"}},
			steps: []hostexec.Step{notFound,
				{Line: "pvcreate --yes /dev/vdb"}, {Line: "vgcreate capvg /dev/vdb"},
				{Line: vgsCmd, Stdout: readFixture(t, "vgs-capvg.json")},
				{Line: lvsCmd, Stdout: emptyLVs},
				{Line: "lvcreate --yes --extents 100%FREE --thinpool thinpool capvg"}},
		},
		"lvm-thin-existing": {
			pool: &agentv1.StoragePool{Name: "thin", ProviderKind: agentv1.ProviderKind_LVM_THIN, VolumeGroup: "capvg", ThinPool: "thinpool", HostDevices: []string{"/dev/vdb"}},
			steps: []hostexec.Step{{Line: vgsCmd, Stdout: readFixture(t, "vgs-capvg.json")},
				{Line: lvsCmd, Stdout: readFixture(t, "lvs-capvg.json")}},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			rec := &hostexec.Recorder{Next: hostexec.NewScript(tt.steps...)}
			p, err := New(tt.pool, rec)
			require.NoError(t, err)
			changed, err := p.Ensure(t.Context())
			require.NoError(t, err)
			assert.Equal(t, (len(rec.Mutating()) > 0), changed, "changed = %v but %d mutating commands", changed, len(rec.Mutating()))
			golden.Assert(t, golden.Path(name+".cmds"), rec.Log())
		})
	}
}

func TestLVMPoolMissingWithoutDevices(t *testing.T) {
	script := hostexec.NewScript(hostexec.Step{Line: vgsCmd, ExitCode: 5, Stderr: "  Volume group \"capvg\" not found\n"})
	p, _ := New(&agentv1.StoragePool{Name: "lvm", ProviderKind: agentv1.ProviderKind_LVM, VolumeGroup: "capvg"}, script)
	_, err := p.Ensure(t.Context())
	require.False(t, err == nil || err.Error() != "storage pool lvm: volume group capvg not found, and the pool names no host devices to create it from", "got %v", err)
}

func TestLVMVolumeLifecycleGolden(t *testing.T) {
	rec := &hostexec.Recorder{Next: hostexec.NewScript(
		hostexec.Step{Line: vgsCmd, Stdout: readFixture(t, "vgs-capvg.json")},
		hostexec.Step{Line: "lvcreate --yes --name pvc-c_00000 --addtag piraeusctl --addtag piraeusctl_uid_u-1 --wipesignatures y --size 10241k capvg"},
		hostexec.Step{Line: "lvextend --size 20480k capvg/pvc-c_00000"},
		hostexec.Step{Line: "lvremove --yes capvg/pvc-c_00000"},
	)}
	p, _ := New(&agentv1.StoragePool{Name: "lvm", ProviderKind: agentv1.ProviderKind_LVM, VolumeGroup: "capvg"}, rec)
	ctx := t.Context()
	_, err := p.Ensure(ctx)
	require.NoError(t, err)
	v, err := p.Create(ctx, "pvc-c_00000", "u-1", 10241)
	require.NoError(t, err)
	assert.EqualValues(t, 12288, v.SizeKiB, "size rounded to extents = %d, want 12288", v.SizeKiB)
	v, err = p.Grow(ctx, v, 12288)
	require.False(t, err != nil || len(rec.Commands()) != 2, "growing to the current size must do nothing: %v", err)
	v, err = p.Grow(ctx, v, 20480)
	require.NoError(t, err)
	require.NoError(t, p.Delete(ctx, v))
	_, err = p.Create(ctx, "pvc-d_00000", "bad uid", 1)
	assert.Error(t, err, "uid with a space must be refused")
	golden.Assert(t, golden.Path("lvm-volume-lifecycle.cmds"), rec.Log())
}

func TestNewRejects(t *testing.T) {
	for name, pool := range map[string]*agentv1.StoragePool{
		"zfs":          {Name: "z", ProviderKind: agentv1.ProviderKind_ZFS},
		"unspecified":  {Name: "u"},
		"no vg":        {Name: "l", ProviderKind: agentv1.ProviderKind_LVM},
		"no thin pool": {Name: "l", ProviderKind: agentv1.ProviderKind_LVM_THIN, VolumeGroup: "vg"},
		"device":       {Name: "l", ProviderKind: agentv1.ProviderKind_LVM, VolumeGroup: "vg", HostDevices: []string{"sdb"}},
		"relative dir": {Name: "f", ProviderKind: agentv1.ProviderKind_FILE, Directory: "var/x"},
		"unclean dir":  {Name: "f", ProviderKind: agentv1.ProviderKind_FILE_THIN, Directory: "/var/../x"},
	} {
		_, err := New(pool, nil)
		assert.Error(t, err, "%s: want error", name)
	}
}

func TestVolumeNames(t *testing.T) {
	got := VolumeName("pvc-1", 3)
	assert.Equal(t, "pvc-1_00003", got, "VolumeName = %q", got)
	for _, tt := range []struct {
		in  string
		res string
		n   uint32
		ok  bool
	}{{"pvc-1_00003", "pvc-1", 3, true}, {"a_b_00010", "a_b", 10, true}, {"pvc-1_3", "", 0, false}, {"_00001", "", 0, false}, {"thinpool", "", 0, false}} {
		res, n, ok := ParseVolumeName(tt.in)
		assert.False(t, res != tt.res || n != tt.n || ok != tt.ok, "ParseVolumeName(%q) = %q %d %v", tt.in, res, n, ok)
	}
}

func FuzzParseLVs(f *testing.F) {
	for _, n := range []string{"lvs-capvg.json", "lvs-active.json", "lvs-capvg-suffix.json"} {
		f.Add([]byte(readFixture(f, n)))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		lvs, err := ParseLVs(in)
		if err == nil {
			for _, lv := range lvs {
				require.NotEqual(t, "", lv.Name, "LV without name accepted")
			}
		}
	})
}

func FuzzParseVGs(f *testing.F) {
	f.Add([]byte(readFixture(f, "vgs-capvg.json")))
	f.Fuzz(func(t *testing.T, in []byte) {
		vgs, err := ParseVGs(in)
		if err == nil {
			for _, vg := range vgs {
				require.NotEqual(t, "", vg.Name, "VG without name accepted")
			}
		}
	})
}

func FuzzParseLosetup(f *testing.F) {
	f.Add([]byte(`{"loopdevices": [{"name": "/dev/loop0", "back-file": "/tmp/lt.img"}]}`))
	f.Add([]byte(`{"loopdevices": [{"name": "/dev/loop1", "back-file": "/x (deleted)"}]}`))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, in []byte) {
		devs, err := ParseLosetup(in)
		if err == nil {
			for _, d := range devs {
				require.False(t, len(d.Name) < 5, "bad device accepted")
			}
		}
	})
}
