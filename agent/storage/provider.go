package storage

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
	"github.com/piraeusctl/piraeusctl/hostexec"
)

// Volume is one backing volume on the host.
type Volume struct {
	// Name is the volume's name in its pool: VolumeName(resource, number).
	Name string
	// Resource and Number are parsed from Name.
	Resource string
	Number   uint32
	// UID is the identity recorded when the volume was created; empty if none.
	UID string
	// SizeKiB is the size of the volume.
	SizeKiB uint64
	// DevicePath is the block device; empty when not active/attached.
	DevicePath string
	// Object is the host object: the LV (vg/lv) or the backing file path.
	Object string
}

// Capacity is a pool's size and free space.
type Capacity struct {
	TotalKiB uint64
	FreeKiB  uint64
}

// Provider manages the backing volumes of one pool.
type Provider interface {
	// Ensure creates the pool when it is missing and the pool spec says how
	// (volume group from host devices, thin pool, directory). It reports
	// whether it changed the host.
	Ensure(ctx context.Context) (changed bool, err error)
	// Capacity reads the pool's size and free space.
	Capacity(ctx context.Context) (Capacity, error)
	// Volumes lists the volumes in our naming scheme.
	Volumes(ctx context.Context) ([]Volume, error)
	// Create makes a new volume of at least sizeKiB, recording uid.
	Create(ctx context.Context, name, uid string, sizeKiB uint64) (Volume, error)
	// Activate makes an existing volume's device available (attach the loop
	// device); a no-op when it is.
	Activate(ctx context.Context, v Volume) (Volume, bool, error)
	// Grow enlarges a volume to sizeKiB; volumes never shrink.
	Grow(ctx context.Context, v Volume, sizeKiB uint64) (Volume, error)
	// Delete removes a volume and everything it left on the host.
	Delete(ctx context.Context, v Volume) error

	// Scan lists the volumes and the snapshots in our naming scheme, reading
	// the host once.
	Scan(ctx context.Context) ([]Volume, []Snapshot, error)
	// TakeSnapshot makes a snapshot of a volume, recording uid. The caller
	// quiesces I/O (DRBD suspend-io) around it where needed.
	TakeSnapshot(ctx context.Context, v Volume, snapshot, uid string) (Snapshot, error)
	// Restore creates a new volume (name, recording uid) holding the data of
	// a snapshot, active; the volume is independent of the snapshot and of
	// the snapshot's origin.
	Restore(ctx context.Context, s Snapshot, name, uid string) (Volume, error)
	// DeleteSnapshot removes a snapshot.
	DeleteSnapshot(ctx context.Context, s Snapshot) error
}

// New returns the provider for a pool.
func New(pool *agentv1.StoragePool, exec hostexec.Executor) (Provider, error) {
	switch pool.GetProviderKind() {
	case agentv1.ProviderKind_LVM, agentv1.ProviderKind_LVM_THIN:
		return newLVM(pool, exec)
	case agentv1.ProviderKind_FILE, agentv1.ProviderKind_FILE_THIN:
		return newFile(pool, exec)
	case agentv1.ProviderKind_ZFS, agentv1.ProviderKind_ZFS_THIN:
		return nil, fmt.Errorf("storage pool %s: provider %s is not supported by this agent", pool.GetName(), pool.GetProviderKind())
	default:
		return nil, fmt.Errorf("storage pool %s: provider kind %s unknown", pool.GetName(), pool.GetProviderKind())
	}
}

var (
	volumeNamePattern = regexp.MustCompile(`^([a-zA-Z0-9_.+-]{1,48})_([0-9]{5})$`)
	uidPattern        = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,63}$`)
)

// VolumeName is the backing volume name of a resource's volume, as LINSTOR
// names them: "<resource>_<number, 5 digits>".
func VolumeName(resource string, number uint32) string {
	return fmt.Sprintf("%s_%05d", resource, number)
}

// ParseVolumeName splits a name made by VolumeName.
func ParseVolumeName(name string) (resource string, number uint32, ok bool) {
	m := volumeNamePattern.FindStringSubmatch(name)
	if m == nil {
		return "", 0, false
	}
	var n uint32
	for _, c := range m[2] {
		n = n*10 + uint32(c-'0')
	}
	return m[1], n, true
}

// ValidUID reports whether uid can be recorded on the host (an LVM tag or
// a file name part): 1-64 of [A-Za-z0-9-], not starting with '-'.
func ValidUID(uid string) bool { return uidPattern.MatchString(uid) }

func trimLines(b []byte) string { return strings.TrimSpace(string(b)) }
