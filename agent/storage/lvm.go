package storage

import (
	"context"
	"fmt"
	"slices"
	"strings"

	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
	"github.com/piraeusctl/piraeusctl/hostexec"
)

// Tags on every LV the agent creates: ownerTag marks it as ours, and
// uidTagPrefix+uid records the resource's identity.
const (
	ownerTag     = "piraeusctl"
	uidTagPrefix = "piraeusctl_uid_"
	// snapUIDTagPrefix+uid records a snapshot's identity on its LV.
	snapUIDTagPrefix = "piraeusctl_snapuid_"
)

const (
	vgFields = "vg_name,vg_size,vg_free,vg_extent_size"
	lvFields = "lv_name,lv_path,lv_size,lv_attr,pool_lv,data_percent,lv_tags"
)

// lvmExitNotFound is the exit code of vgs/lvs for a missing VG or LV.
const lvmExitNotFound = 5

type lvm struct {
	pool   *agentv1.StoragePool
	exec   hostexec.Executor
	thin   bool
	extent uint64
}

func newLVM(pool *agentv1.StoragePool, exec hostexec.Executor) (*lvm, error) {
	l := &lvm{pool: pool, exec: exec, thin: pool.GetProviderKind() == agentv1.ProviderKind_LVM_THIN}
	if pool.GetVolumeGroup() == "" || strings.ContainsAny(pool.GetVolumeGroup(), "/ ") {
		return nil, fmt.Errorf("storage pool %s: volume group %q invalid", pool.GetName(), pool.GetVolumeGroup())
	}
	if l.thin && (pool.GetThinPool() == "" || strings.ContainsAny(pool.GetThinPool(), "/ ")) {
		return nil, fmt.Errorf("storage pool %s: thin pool %q invalid", pool.GetName(), pool.GetThinPool())
	}
	for _, d := range pool.GetHostDevices() {
		if !strings.HasPrefix(d, "/dev/") {
			return nil, fmt.Errorf("storage pool %s: host device %q is not under /dev", pool.GetName(), d)
		}
	}
	return l, nil
}

func (l *lvm) vg() string { return l.pool.GetVolumeGroup() }

func (l *lvm) readVG(ctx context.Context) (*VGReport, error) {
	res, err := l.exec.Run(ctx, hostexec.Read("vgs", "--reportformat", "json", "--units", "b", "--nosuffix", "--options", vgFields, l.vg()))
	if code, ok := hostexec.ExitCode(err); ok && code == lvmExitNotFound && strings.Contains(string(res.Stderr), "not found") {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("storage pool %s: %w", l.pool.GetName(), err)
	}
	vgs, err := ParseVGs(res.Stdout)
	if err != nil {
		return nil, fmt.Errorf("storage pool %s: %w", l.pool.GetName(), err)
	}
	for i := range vgs {
		if vgs[i].Name == l.vg() {
			l.extent = vgs[i].ExtentBytes
			return &vgs[i], nil
		}
	}
	return nil, nil
}

func (l *lvm) readLVs(ctx context.Context) ([]LVReport, error) {
	res, err := l.exec.Run(ctx, hostexec.Read("lvs", "--reportformat", "json", "--units", "b", "--nosuffix", "--options", lvFields, l.vg()))
	if err != nil {
		return nil, fmt.Errorf("storage pool %s: %w", l.pool.GetName(), err)
	}
	lvs, err := ParseLVs(res.Stdout)
	if err != nil {
		return nil, fmt.Errorf("storage pool %s: %w", l.pool.GetName(), err)
	}
	return lvs, nil
}

func (l *lvm) thinPool(lvs []LVReport) *LVReport {
	for i := range lvs {
		if lvs[i].Name == l.pool.GetThinPool() && lvs[i].IsThinPool() {
			return &lvs[i]
		}
	}
	return nil
}

// Ensure implements Provider.
func (l *lvm) Ensure(ctx context.Context) (bool, error) {
	vg, err := l.readVG(ctx)
	if err != nil {
		return false, err
	}
	changed := false
	if vg == nil {
		if err := l.createVG(ctx); err != nil {
			return false, err
		}
		changed = true
		if _, err := l.readVG(ctx); err != nil {
			return true, err
		}
	}
	if !l.thin {
		return changed, nil
	}
	lvs, err := l.readLVs(ctx)
	if err != nil {
		return changed, err
	}
	if l.thinPool(lvs) != nil {
		return changed, nil
	}
	if len(l.pool.GetHostDevices()) == 0 {
		return changed, fmt.Errorf("storage pool %s: thin pool %s/%s not found, and the pool names no host devices to create it on",
			l.pool.GetName(), l.vg(), l.pool.GetThinPool())
	}
	_, err = l.exec.Run(ctx, hostexec.Write("lvcreate", "--yes", "--extents", "100%FREE", "--thinpool", l.pool.GetThinPool(), l.vg()))
	if err != nil {
		return changed, fmt.Errorf("storage pool %s: create thin pool: %w", l.pool.GetName(), err)
	}
	return true, nil
}

func (l *lvm) createVG(ctx context.Context) error {
	devs := l.pool.GetHostDevices()
	if len(devs) == 0 {
		return fmt.Errorf("storage pool %s: volume group %s not found, and the pool names no host devices to create it from",
			l.pool.GetName(), l.vg())
	}
	if _, err := l.exec.Run(ctx, hostexec.Write("pvcreate", append([]string{"--yes"}, devs...)...)); err != nil {
		return fmt.Errorf("storage pool %s: %w", l.pool.GetName(), err)
	}
	if _, err := l.exec.Run(ctx, hostexec.Write("vgcreate", append([]string{l.vg()}, devs...)...)); err != nil {
		return fmt.Errorf("storage pool %s: %w", l.pool.GetName(), err)
	}
	return nil
}

// Capacity implements Provider.
func (l *lvm) Capacity(ctx context.Context) (Capacity, error) {
	if !l.thin {
		vg, err := l.readVG(ctx)
		if err != nil {
			return Capacity{}, err
		}
		if vg == nil {
			return Capacity{}, fmt.Errorf("storage pool %s: volume group %s not found", l.pool.GetName(), l.vg())
		}
		return Capacity{TotalKiB: vg.SizeBytes / 1024, FreeKiB: vg.FreeBytes / 1024}, nil
	}
	lvs, err := l.readLVs(ctx)
	if err != nil {
		return Capacity{}, err
	}
	tp := l.thinPool(lvs)
	if tp == nil {
		return Capacity{}, fmt.Errorf("storage pool %s: thin pool %s/%s not found", l.pool.GetName(), l.vg(), l.pool.GetThinPool())
	}
	used := 0.0
	if tp.DataPercent > 0 {
		used = tp.DataPercent
	}
	total := tp.SizeBytes / 1024
	return Capacity{TotalKiB: total, FreeKiB: uint64(float64(total) * (100 - used) / 100)}, nil
}

// Volumes implements Provider.
func (l *lvm) Volumes(ctx context.Context) ([]Volume, error) {
	vols, _, err := l.Scan(ctx)
	return vols, err
}

// Scan implements Provider.
func (l *lvm) Scan(ctx context.Context) ([]Volume, []Snapshot, error) {
	lvs, err := l.readLVs(ctx)
	if err != nil {
		return nil, nil, err
	}
	return l.volumes(lvs), l.snapshots(lvs), nil
}

func (l *lvm) volumes(lvs []LVReport) []Volume {
	var out []Volume
	for _, lv := range lvs {
		res, num, ok := ParseVolumeName(lv.Name)
		if !ok || !lv.HasTag(ownerTag) {
			continue
		}
		if l.thin != (lv.PoolLV != "") || (l.thin && lv.PoolLV != l.pool.GetThinPool()) {
			continue
		}
		v := Volume{Name: lv.Name, Resource: res, Number: num, SizeKiB: lv.SizeBytes / 1024,
			Object: l.vg() + "/" + lv.Name, DevicePath: lvDevice(l.vg(), lv)}
		for _, t := range lv.Tags {
			if uid, ok := strings.CutPrefix(t, uidTagPrefix); ok {
				v.UID = uid
			}
		}
		out = append(out, v)
	}
	return out
}

// lvDevice is the LV's device path unless lvm2 reports it inactive
// (fifth attr character '-').
func lvDevice(vg string, lv LVReport) string {
	if len(lv.Attr) > 4 && lv.Attr[4] == '-' {
		return ""
	}
	if lv.Path != "" {
		return lv.Path
	}
	return "/dev/" + vg + "/" + lv.Name
}

// Create implements Provider.
func (l *lvm) Create(ctx context.Context, name, uid string, sizeKiB uint64) (Volume, error) {
	if !ValidUID(uid) {
		return Volume{}, fmt.Errorf("volume %s: uid %q cannot be recorded as an LVM tag", name, uid)
	}
	args := []string{"--yes", "--name", name, "--addtag", ownerTag, "--addtag", uidTagPrefix + uid}
	if l.thin {
		args = append(args, "--virtualsize", fmt.Sprintf("%dk", sizeKiB), "--thinpool", l.pool.GetThinPool(), l.vg())
	} else {
		args = append(args, "--wipesignatures", "y", "--size", fmt.Sprintf("%dk", sizeKiB), l.vg())
	}
	if _, err := l.exec.Run(ctx, hostexec.Write("lvcreate", args...)); err != nil {
		return Volume{}, fmt.Errorf("storage pool %s: create %s: %w", l.pool.GetName(), name, err)
	}
	res, num, _ := ParseVolumeName(name)
	return Volume{Name: name, Resource: res, Number: num, UID: uid, SizeKiB: l.roundUp(sizeKiB),
		Object: l.vg() + "/" + name, DevicePath: "/dev/" + l.vg() + "/" + name}, nil
}

func (l *lvm) roundUp(sizeKiB uint64) uint64 {
	ext := l.extent / 1024
	if ext == 0 {
		return sizeKiB
	}
	return (sizeKiB + ext - 1) / ext * ext
}

// Activate implements Provider.
func (l *lvm) Activate(ctx context.Context, v Volume) (Volume, bool, error) {
	if v.DevicePath != "" {
		return v, false, nil
	}
	if _, err := l.exec.Run(ctx, hostexec.Write("lvchange", "--activate", "y", v.Object)); err != nil {
		return v, false, fmt.Errorf("storage pool %s: activate %s: %w", l.pool.GetName(), v.Name, err)
	}
	v.DevicePath = "/dev/" + v.Object
	return v, true, nil
}

// Grow implements Provider.
func (l *lvm) Grow(ctx context.Context, v Volume, sizeKiB uint64) (Volume, error) {
	if sizeKiB <= v.SizeKiB {
		return v, nil
	}
	if _, err := l.exec.Run(ctx, hostexec.Write("lvextend", "--size", fmt.Sprintf("%dk", sizeKiB), v.Object)); err != nil {
		return v, fmt.Errorf("storage pool %s: grow %s: %w", l.pool.GetName(), v.Name, err)
	}
	v.SizeKiB = l.roundUp(sizeKiB)
	return v, nil
}

// Delete implements Provider.
func (l *lvm) Delete(ctx context.Context, v Volume) error {
	if _, err := l.exec.Run(ctx, hostexec.Write("lvremove", "--yes", v.Object)); err != nil {
		return fmt.Errorf("storage pool %s: delete %s: %w", l.pool.GetName(), v.Name, err)
	}
	return nil
}

// tagValue returns the value of the first tag with prefix, "" when none.
func tagValue(tags []string, prefix string) string {
	for _, t := range tags {
		if v, ok := strings.CutPrefix(t, prefix); ok {
			return v
		}
	}
	return ""
}

// snapshots are the thin snapshot LVs named by SnapshotVolumeName and
// carrying our snapshot uid tag.
func (l *lvm) snapshots(lvs []LVReport) []Snapshot {
	if !l.thin {
		return nil
	}
	var out []Snapshot
	for _, lv := range lvs {
		if !lv.HasTag(ownerTag) || lv.PoolLV != l.pool.GetThinPool() {
			continue
		}
		s, ok := snapshotFor(lv.Name, tagValue(lv.Tags, snapUIDTagPrefix))
		if !ok {
			continue
		}
		s.SizeKiB, s.Object, s.ResourceUID = lv.SizeBytes/1024, l.vg()+"/"+lv.Name, tagValue(lv.Tags, uidTagPrefix)
		out = append(out, s)
	}
	return out
}

// TakeSnapshot implements Provider: a thin snapshot (lvcreate --snapshot of
// a thin LV needs no size), tagged with the snapshot's uid. Thin snapshots
// get lvm2's activation skip flag and stay inactive, as LINSTOR leaves them.
// Thick LVM has no snapshots here, as in LINSTOR.
func (l *lvm) TakeSnapshot(ctx context.Context, v Volume, snapshot, uid string) (Snapshot, error) {
	if !l.thin {
		return Snapshot{}, fmt.Errorf("storage pool %s: snapshots need an LVM_THIN pool (thick LVM has none)", l.pool.GetName())
	}
	if err := checkSnapshotArgs(v, snapshot, uid); err != nil {
		return Snapshot{}, fmt.Errorf("storage pool %s: %w", l.pool.GetName(), err)
	}
	name := SnapshotVolumeName(v.Resource, v.Number, snapshot)
	_, err := l.exec.Run(ctx, hostexec.Write("lvcreate", "--yes", "--snapshot", "--name", name,
		"--addtag", ownerTag, "--addtag", snapUIDTagPrefix+uid, v.Object))
	if err != nil {
		return Snapshot{}, fmt.Errorf("storage pool %s: snapshot %s: %w", l.pool.GetName(), name, err)
	}
	return Snapshot{Name: name, Resource: v.Resource, Number: v.Number, Snapshot: snapshot, UID: uid, SizeKiB: v.SizeKiB,
		Object: l.vg() + "/" + name}, nil
}

// Restore implements Provider: a thin snapshot of the snapshot, made a
// volume of its own: the snapshot's uid tag is removed (should lvm2 have
// copied it), the activation skip flag cleared and the LV activated with
// -K, as LINSTOR activates restored thin volumes. Thin snapshots share
// blocks copy-on-write, but each is a full LV: deleting the snapshot or its
// origin later leaves the restored volume intact.
func (l *lvm) Restore(ctx context.Context, s Snapshot, name, uid string) (Volume, error) {
	if !ValidUID(uid) {
		return Volume{}, fmt.Errorf("volume %s: uid %q cannot be recorded as an LVM tag", name, uid)
	}
	obj := l.vg() + "/" + name
	cmds := []hostexec.Cmd{
		hostexec.Write("lvcreate", "--yes", "--snapshot", "--setactivationskip", "n", "--name", name,
			"--addtag", ownerTag, "--addtag", uidTagPrefix+uid, s.Object),
		hostexec.Write("lvchange", "--deltag", snapUIDTagPrefix+s.UID, obj),
		hostexec.Write("lvchange", "--activate", "y", "--ignoreactivationskip", obj),
	}
	if s.ResourceUID != "" && s.ResourceUID != uid {
		cmds = slices.Insert(cmds, 2, hostexec.Write("lvchange", "--deltag", uidTagPrefix+s.ResourceUID, obj))
	}
	for _, c := range cmds {
		if _, err := l.exec.Run(ctx, c); err != nil {
			return Volume{}, fmt.Errorf("storage pool %s: restore %s from %s: %w", l.pool.GetName(), name, s.Name, err)
		}
	}
	res, num, _ := ParseVolumeName(name)
	return Volume{Name: name, Resource: res, Number: num, UID: uid, SizeKiB: s.SizeKiB, Object: obj, DevicePath: "/dev/" + obj}, nil
}

// DeleteSnapshot implements Provider.
func (l *lvm) DeleteSnapshot(ctx context.Context, s Snapshot) error {
	if _, err := l.exec.Run(ctx, hostexec.Write("lvremove", "--yes", s.Object)); err != nil {
		return fmt.Errorf("storage pool %s: delete snapshot %s: %w", l.pool.GetName(), s.Name, err)
	}
	return nil
}
