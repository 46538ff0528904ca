package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
	"github.com/piraeusctl/piraeusctl/hostexec"
)

// Backing files are named "<volume name>.<uid>.img": the uid is part of the
// name, so the identity survives anything that keeps the file.
const fileSuffix = ".img"

// loopLock is the host lock loop devices are attached under, one at a time
// (hostexec.Cmd.Exclusive).
const loopLock = "losetup"

type file struct {
	pool *agentv1.StoragePool
	exec hostexec.Executor
	thin bool
}

func newFile(pool *agentv1.StoragePool, exec hostexec.Executor) (*file, error) {
	dir := pool.GetDirectory()
	if !filepath.IsAbs(dir) || filepath.Clean(dir) != dir {
		return nil, fmt.Errorf("storage pool %s: directory %q must be a clean absolute path", pool.GetName(), dir)
	}
	return &file{pool: pool, exec: exec, thin: pool.GetProviderKind() == agentv1.ProviderKind_FILE_THIN}, nil
}

func (f *file) dir() string { return f.pool.GetDirectory() }

// Ensure implements Provider.
func (f *file) Ensure(ctx context.Context) (bool, error) {
	st, err := os.Stat(f.dir())
	if err == nil && st.IsDir() {
		return false, nil
	}
	if err == nil {
		return false, fmt.Errorf("storage pool %s: %s is not a directory", f.pool.GetName(), f.dir())
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("storage pool %s: %w", f.pool.GetName(), err)
	}
	if _, err := f.exec.Run(ctx, hostexec.Write("mkdir", "--parents", f.dir())); err != nil {
		return false, fmt.Errorf("storage pool %s: %w", f.pool.GetName(), err)
	}
	return true, nil
}

// Capacity implements Provider: the file system holding the directory.
func (f *file) Capacity(context.Context) (Capacity, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(f.dir(), &st); err != nil {
		return Capacity{}, fmt.Errorf("storage pool %s: statfs %s: %w", f.pool.GetName(), f.dir(), err)
	}
	bs := uint64(st.Bsize)
	return Capacity{TotalKiB: st.Blocks * bs / 1024, FreeKiB: st.Bavail * bs / 1024}, nil
}

// Volumes implements Provider.
func (f *file) Volumes(ctx context.Context) ([]Volume, error) {
	entries, err := os.ReadDir(f.dir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("storage pool %s: %w", f.pool.GetName(), err)
	}
	var out []Volume
	for _, e := range entries {
		v, ok := parseBackingFile(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("storage pool %s: %w", f.pool.GetName(), err)
		}
		v.Object = filepath.Join(f.dir(), e.Name())
		v.SizeKiB = uint64(info.Size()) / 1024
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, nil
	}
	loops, err := f.loops(ctx)
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].DevicePath = loops[out[i].Object]
	}
	return out, nil
}

func parseBackingFile(name string) (Volume, bool) {
	base, ok := strings.CutSuffix(name, fileSuffix)
	if !ok {
		return Volume{}, false
	}
	i := strings.LastIndexByte(base, '.')
	if i < 0 || !ValidUID(base[i+1:]) {
		return Volume{}, false
	}
	res, num, ok := ParseVolumeName(base[:i])
	if !ok {
		return Volume{}, false
	}
	return Volume{Name: base[:i], Resource: res, Number: num, UID: base[i+1:]}, true
}

// loops maps backing files to their loop devices.
func (f *file) loops(ctx context.Context) (map[string]string, error) {
	devs, err := listLoops(ctx, f.exec)
	if err != nil {
		return nil, fmt.Errorf("storage pool %s: %w", f.pool.GetName(), err)
	}
	m := make(map[string]string, len(devs))
	for _, d := range devs {
		if _, dup := m[d.BackFile]; !dup {
			m[d.BackFile] = d.Name
		}
	}
	return m, nil
}

// Create implements Provider.
func (f *file) Create(ctx context.Context, name, uid string, sizeKiB uint64) (Volume, error) {
	if !ValidUID(uid) {
		return Volume{}, fmt.Errorf("volume %s: uid %q cannot be part of a file name", name, uid)
	}
	path := filepath.Join(f.dir(), name+"."+uid+fileSuffix)
	if _, err := f.exec.Run(ctx, f.sizeCmd(path, sizeKiB)); err != nil {
		return Volume{}, fmt.Errorf("storage pool %s: create %s: %w", f.pool.GetName(), name, err)
	}
	res, num, _ := ParseVolumeName(name)
	v := Volume{Name: name, Resource: res, Number: num, UID: uid, SizeKiB: sizeKiB, Object: path}
	v, _, err := f.Activate(ctx, v)
	return v, err
}

func (f *file) sizeCmd(path string, sizeKiB uint64) hostexec.Cmd {
	size := fmt.Sprintf("%d", sizeKiB*1024)
	if f.thin {
		return hostexec.Write("truncate", "--size", size, path)
	}
	return hostexec.Write("fallocate", "--length", size, path)
}

// Activate implements Provider.
func (f *file) Activate(ctx context.Context, v Volume) (Volume, bool, error) {
	if v.DevicePath != "" {
		return v, false, nil
	}
	res, err := f.exec.Run(ctx, hostexec.Write("losetup", "--find", "--show", v.Object).Alone(loopLock))
	if err != nil {
		return v, false, fmt.Errorf("storage pool %s: attach %s: %w", f.pool.GetName(), v.Name, err)
	}
	dev := trimLines(res.Stdout)
	if !strings.HasPrefix(dev, "/dev/") {
		return v, false, fmt.Errorf("storage pool %s: attach %s: losetup printed %q, not a device", f.pool.GetName(), v.Name, dev)
	}
	v.DevicePath = dev
	return v, true, nil
}

// Grow implements Provider.
func (f *file) Grow(ctx context.Context, v Volume, sizeKiB uint64) (Volume, error) {
	if sizeKiB <= v.SizeKiB {
		return v, nil
	}
	if _, err := f.exec.Run(ctx, f.sizeCmd(v.Object, sizeKiB)); err != nil {
		return v, fmt.Errorf("storage pool %s: grow %s: %w", f.pool.GetName(), v.Name, err)
	}
	v.SizeKiB = sizeKiB
	if v.DevicePath != "" {
		if _, err := f.exec.Run(ctx, hostexec.Write("losetup", "--set-capacity", v.DevicePath)); err != nil {
			return v, fmt.Errorf("storage pool %s: grow %s: %w", f.pool.GetName(), v.Name, err)
		}
	}
	return v, nil
}

// Delete implements Provider.
func (f *file) Delete(ctx context.Context, v Volume) error {
	if v.DevicePath != "" {
		if _, err := f.exec.Run(ctx, hostexec.Write("losetup", "--detach", v.DevicePath)); err != nil {
			return fmt.Errorf("storage pool %s: delete %s: %w", f.pool.GetName(), v.Name, err)
		}
	}
	if _, err := f.exec.Run(ctx, hostexec.Write("rm", "--force", v.Object)); err != nil {
		return fmt.Errorf("storage pool %s: delete %s: %w", f.pool.GetName(), v.Name, err)
	}
	return nil
}

// listLoops lists the host's loop devices with their backing files.
func listLoops(ctx context.Context, ex hostexec.Executor) ([]LoopDevice, error) {
	res, err := ex.Run(ctx, hostexec.Read("losetup", "--list", "--json", "--output", "NAME,BACK-FILE"))
	if err != nil {
		return nil, err
	}
	return ParseLosetup(res.Stdout)
}

// LoopDevice is one row of `losetup --list --json`.
type LoopDevice struct {
	Name     string `json:"name"`
	BackFile string `json:"back-file"`
}

// ParseLosetup parses `losetup --list --json` output; empty output (no
// loop devices, as some util-linux versions print) yields none. Backing
// files that were deleted while attached (" (deleted)") are kept with the
// suffix, so they never match a live file.
func ParseLosetup(out []byte) ([]LoopDevice, error) {
	if len(strings.TrimSpace(string(out))) == 0 {
		return nil, nil
	}
	var r struct {
		LoopDevices []LoopDevice `json:"loopdevices"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("parse losetup json: %w", err)
	}
	for _, d := range r.LoopDevices {
		if !strings.HasPrefix(d.Name, "/dev/") {
			return nil, fmt.Errorf("parse losetup json: device name %q", d.Name)
		}
	}
	return r.LoopDevices, nil
}

// Snapshot files are named "<snapshot volume name>.<uid>.snap", beside the
// backing files; they are written under a ".tmp" name and renamed, so a
// half-made copy is never taken for a snapshot.
const (
	snapshotSuffix = ".snap"
	tmpSuffix      = ".tmp"
)

// Scan implements Provider.
func (f *file) Scan(ctx context.Context) ([]Volume, []Snapshot, error) {
	vols, err := f.Volumes(ctx)
	if err != nil {
		return nil, nil, err
	}
	snaps, err := f.snapshots()
	return vols, snaps, err
}

func (f *file) snapshots() ([]Snapshot, error) {
	entries, err := os.ReadDir(f.dir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("storage pool %s: %w", f.pool.GetName(), err)
	}
	var out []Snapshot
	for _, e := range entries {
		base, ok := strings.CutSuffix(e.Name(), snapshotSuffix)
		i := strings.LastIndexByte(base, '.')
		if !ok || i < 0 || !e.Type().IsRegular() {
			continue
		}
		s, ok := snapshotFor(base[:i], base[i+1:])
		if !ok {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("storage pool %s: %w", f.pool.GetName(), err)
		}
		s.Object, s.SizeKiB = filepath.Join(f.dir(), e.Name()), uint64(info.Size())/1024
		out = append(out, s)
	}
	return out, nil
}

// copyCmds copies src to dst through a temporary name: a reflink where the
// file system supports it (btrfs, xfs with reflink), else a copy that keeps
// holes (FILE_THIN, and snapshots) or fills them (a FILE volume restored).
func (f *file) copyCmds(src, dst string, sparse bool) []hostexec.Cmd {
	mode := "--sparse=always"
	if !sparse {
		mode = "--sparse=never"
	}
	return []hostexec.Cmd{
		hostexec.Write("cp", "--reflink=auto", mode, "--", src, dst+tmpSuffix),
		hostexec.Write("mv", "--force", "--no-target-directory", "--", dst+tmpSuffix, dst),
	}
}

func (f *file) runAll(ctx context.Context, cmds []hostexec.Cmd) error {
	for _, c := range cmds {
		if _, err := f.exec.Run(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

// TakeSnapshot implements Provider. The loop device's buffers are flushed
// first (blockdev --flushbufs), so writes that completed on the device are
// in the file the copy reads.
func (f *file) TakeSnapshot(ctx context.Context, v Volume, snapshot, uid string) (Snapshot, error) {
	if err := checkSnapshotArgs(v, snapshot, uid); err != nil {
		return Snapshot{}, fmt.Errorf("storage pool %s: %w", f.pool.GetName(), err)
	}
	name := SnapshotVolumeName(v.Resource, v.Number, snapshot)
	path := filepath.Join(f.dir(), name+"."+uid+snapshotSuffix)
	var cmds []hostexec.Cmd
	if v.DevicePath != "" {
		cmds = append(cmds, hostexec.Write("blockdev", "--flushbufs", v.DevicePath))
	}
	cmds = append(cmds, f.copyCmds(v.Object, path, true)...)
	if err := f.runAll(ctx, cmds); err != nil {
		return Snapshot{}, fmt.Errorf("storage pool %s: snapshot %s: %w", f.pool.GetName(), name, err)
	}
	return Snapshot{Name: name, Resource: v.Resource, Number: v.Number, Snapshot: snapshot, UID: uid, SizeKiB: v.SizeKiB, Object: path}, nil
}

// Restore implements Provider.
func (f *file) Restore(ctx context.Context, s Snapshot, name, uid string) (Volume, error) {
	if !ValidUID(uid) {
		return Volume{}, fmt.Errorf("volume %s: uid %q cannot be part of a file name", name, uid)
	}
	path := filepath.Join(f.dir(), name+"."+uid+fileSuffix)
	if err := f.runAll(ctx, f.copyCmds(s.Object, path, f.thin)); err != nil {
		return Volume{}, fmt.Errorf("storage pool %s: restore %s from %s: %w", f.pool.GetName(), name, s.Name, err)
	}
	res, num, _ := ParseVolumeName(name)
	v := Volume{Name: name, Resource: res, Number: num, UID: uid, SizeKiB: s.SizeKiB, Object: path}
	v, _, err := f.Activate(ctx, v)
	return v, err
}

// DeleteSnapshot implements Provider.
func (f *file) DeleteSnapshot(ctx context.Context, s Snapshot) error {
	if _, err := f.exec.Run(ctx, hostexec.Write("rm", "--force", s.Object)); err != nil {
		return fmt.Errorf("storage pool %s: delete snapshot %s: %w", f.pool.GetName(), s.Name, err)
	}
	return nil
}
