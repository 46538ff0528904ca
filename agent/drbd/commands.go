package drbd

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/piraeusctl/piraeusctl/hostexec"
)

// Admin builds the drbdadm/drbdmeta command lines of one resource. Every
// command reads the resource's own file (-c) and runs in a UTS namespace
// whose host name is the node name, so drbdadm finds its `on` section.
type Admin struct {
	// Node is the Kubernetes node name.
	Node string
	// ConfFile is the path of the resource file.
	ConfFile string
	// Resource is the resource name.
	Resource string
}

func (a Admin) adm(mutating bool, args ...string) hostexec.Cmd {
	c := hostexec.Cmd{Name: "drbdadm", Args: append([]string{"-c", a.ConfFile}, args...), Mutating: mutating}
	return c.InUTS(a.Node)
}

func (a Admin) vol(n uint32) string { return a.Resource + "/" + strconv.FormatUint(uint64(n), 10) }

// CreateMD initialises internal metadata of a new volume.
func (a Admin) CreateMD(vol uint32, maxPeers uint32) hostexec.Cmd {
	if maxPeers == 0 {
		maxPeers = DefaultMaxPeers
	}
	return a.adm(true, fmt.Sprintf("--max-peers=%d", maxPeers), "--", "--force", "create-md", a.vol(vol))
}

// ClearBitmapNewUUID makes all connected, Inconsistent replicas of a volume
// UpToDate without a sync (only correct when all of them are new and zeroed).
func (a Admin) ClearBitmapNewUUID(vol uint32) hostexec.Cmd {
	return a.adm(true, "--", "--clear-bitmap", "new-current-uuid", a.vol(vol))
}

// Up brings the resource up (new-resource, attach, connect).
func (a Admin) Up() hostexec.Cmd { return a.adm(true, "up", a.Resource) }

// Adjust makes the kernel match the resource file.
func (a Admin) Adjust() hostexec.Cmd { return a.adm(true, "adjust", a.Resource) }

// AdjustDryRun prints what Adjust would do; empty output means nothing.
func (a Admin) AdjustDryRun() hostexec.Cmd { return a.adm(false, "--dry-run", "adjust", a.Resource) }

// ForcePrimary makes this node primary although its data is not UpToDate yet
// (the initial sync then flows from here).
func (a Admin) ForcePrimary() hostexec.Cmd { return a.adm(true, "primary", "--force", a.Resource) }

// Secondary gives up the primary role.
func (a Admin) Secondary() hostexec.Cmd { return a.adm(true, "secondary", a.Resource) }

// Resize makes DRBD use a grown backing device.
func (a Admin) Resize(vol uint32) hostexec.Cmd { return a.adm(true, "resize", a.vol(vol)) }

// SuspendIO holds new I/O of the resource (all volumes) until ResumeIO,
// around a snapshot of its backing volumes, as LINSTOR does.
func (a Admin) SuspendIO() hostexec.Cmd { return a.adm(true, "suspend-io", a.Resource) }

// ResumeIO resumes I/O held by SuspendIO.
func (a Admin) ResumeIO() hostexec.Cmd { return a.adm(true, "resume-io", a.Resource) }

// Down stops the resource on this node.
func (a Admin) Down() hostexec.Cmd { return a.adm(true, "down", a.Resource) }

// WipeMD destroys the metadata of a volume (the resource must be down).
func (a Admin) WipeMD(vol uint32) hostexec.Cmd {
	return a.adm(true, "--", "--force", "wipe-md", a.vol(vol))
}

// WipeMDOn destroys the metadata on a backing device the resource file no
// longer names (the replica went diskless, so drbdadm has no disk to wipe):
// drbdmeta on the device, with the volume's minor; the resource must be down.
func WipeMDOn(minor uint32, disk string) hostexec.Cmd {
	return hostexec.Write("drbdmeta", "--force", strconv.FormatUint(uint64(minor), 10), "v09", disk, "internal", "wipe-md")
}

// MetadataDiskState reads the disk state recorded in a volume's metadata;
// it fails with "No valid meta data found" on a disk without metadata.
func MetadataDiskState(minor uint32, disk string) hostexec.Cmd {
	return hostexec.Read("drbdmeta", strconv.FormatUint(uint64(minor), 10), "v09", disk, "internal", "dstate")
}

// StatusJSON reads the state of the named resources, or of all.
func StatusJSON(resources ...string) hostexec.Cmd {
	return hostexec.Read("drbdsetup", slices.Concat([]string{"status"}, resources, []string{"--json"})...)
}

// EventsNow reads the state of the named resources, or of all, as an
// events2 dump.
func EventsNow(resources ...string) hostexec.Cmd {
	return hostexec.Read("drbdsetup", slices.Concat([]string{"events2", "--now"}, resources)...)
}

// EventsFollow follows state changes: the current state as `exists` lines,
// then `exists -`, then one line per change, each with its time.
func EventsFollow() hostexec.Cmd {
	return hostexec.Read("drbdsetup", "events2", "--timestamps")
}

// ShowJSON reads the configuration of all resources as the kernel has it.
func ShowJSON() hostexec.Cmd { return hostexec.Read("drbdsetup", "show", "--json") }

// ForceSecondary demotes a resource even while its I/O is suspended: the
// openers then see I/O errors instead of hanging.
func ForceSecondary(resource string) hostexec.Cmd {
	return hostexec.Write("drbdsetup", "secondary", "--force", resource)
}

// InternalMetaSizeKiB is the size of DRBD 9 internal metadata for a backing
// device of dataKiB with room for maxPeers peers: 4 KiB superblock, 32 KiB
// activity log and one bitmap per peer of one bit per 4 KiB, each bitmap
// rounded up to 4 KiB (the DRBD user's guide formula, in KiB).
func InternalMetaSizeKiB(dataKiB uint64, maxPeers uint32) uint64 {
	if maxPeers == 0 {
		maxPeers = DefaultMaxPeers
	}
	bitmapKiB := (dataKiB + 128*1024 - 1) / (128 * 1024) * 4 // 4 KiB of bitmap per 128 MiB
	return 36 + bitmapKiB*uint64(maxPeers)
}

// GrossSizeKiB is the backing size needed for a DRBD device of netKiB.
func GrossSizeKiB(netKiB uint64, maxPeers uint32) uint64 {
	gross := netKiB + InternalMetaSizeKiB(netKiB, maxPeers)
	// The bitmap must also cover the metadata's own growth; one more step suffices.
	gross = netKiB + InternalMetaSizeKiB(gross, maxPeers)
	return (gross + 3) / 4 * 4
}
