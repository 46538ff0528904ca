package storage

import (
	"fmt"
	"regexp"
	"strings"
)

// Snapshot is one snapshot of a backing volume on the host.
type Snapshot struct {
	// Name is the snapshot volume's name in its pool: SnapshotVolumeName.
	Name string
	// Resource, Number and Snapshot are parsed from Name.
	Resource string
	Number   uint32
	Snapshot string
	// UID is the snapshot's identity recorded when it was taken.
	UID string
	// ResourceUID is a volume uid tag the snapshot carries (LVM copies
	// none today; a restore removes it should one appear).
	ResourceUID string
	// SizeKiB is the size of the snapshotted volume.
	SizeKiB uint64
	// Object is the host object: the LV (vg/lv) or the snapshot file path.
	Object string
}

var (
	snapshotNamePattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9+-]{0,47}$`)
	snapshotVolPattern  = regexp.MustCompile(`^([a-zA-Z0-9_.+-]{1,48})_([0-9]{5})\.([a-zA-Z0-9][a-zA-Z0-9+-]{0,47})$`)
)

// ValidSnapshotName reports whether name can name a snapshot: 1-48 of
// [a-zA-Z0-9+-], starting alphanumeric. No '.' and no '_', so a snapshot
// volume's name never reads as a backing volume's and splits one way.
func ValidSnapshotName(name string) bool { return snapshotNamePattern.MatchString(name) }

// SnapshotVolumeName is the name of a volume's snapshot in its pool:
// "<resource>_<number, 5 digits>.<snapshot>".
func SnapshotVolumeName(resource string, number uint32, snapshot string) string {
	return VolumeName(resource, number) + "." + snapshot
}

// ParseSnapshotVolumeName splits a name made by SnapshotVolumeName.
func ParseSnapshotVolumeName(name string) (resource string, number uint32, snapshot string, ok bool) {
	m := snapshotVolPattern.FindStringSubmatch(name)
	if m == nil {
		return "", 0, "", false
	}
	res, num, ok := ParseVolumeName(m[1] + "_" + m[2])
	if !ok {
		return "", 0, "", false
	}
	return res, num, m[3], true
}

// snapshotFor is the Snapshot parsed from a name, with uid.
func snapshotFor(name, uid string) (Snapshot, bool) {
	res, num, snap, ok := ParseSnapshotVolumeName(name)
	if !ok || !ValidUID(uid) {
		return Snapshot{}, false
	}
	return Snapshot{Name: name, Resource: res, Number: num, Snapshot: snap, UID: uid}, true
}

func checkSnapshotArgs(v Volume, snapshot, uid string) error {
	if !ValidSnapshotName(snapshot) {
		return fmt.Errorf("snapshot name %q: want 1-48 of [a-zA-Z0-9+-], starting alphanumeric", snapshot)
	}
	if !ValidUID(uid) {
		return fmt.Errorf("snapshot %s of %s: uid %q cannot be recorded on the host", snapshot, v.Name, uid)
	}
	if strings.TrimSpace(v.Object) == "" {
		return fmt.Errorf("snapshot %s of %s: the volume has no host object", snapshot, v.Name)
	}
	return nil
}
