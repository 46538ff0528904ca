package drbd

import "strings"

// Resource is the kernel's view of one DRBD resource on this node.
type Resource struct {
	Name string
	// NodeID is this node's node-id; -1 when unknown.
	NodeID    int
	Role      string
	Suspended bool
	// ForceIOFailures is DRBD 9's force-io-failures: every opener of the
	// device sees I/O errors until all of them have closed it.
	ForceIOFailures bool
	Devices         []Device
	Connections     []Connection
}

// Device is one local volume (minor) of a resource.
type Device struct {
	Volume    int
	Minor     int
	DiskState string
	// Client marks an intentionally diskless volume.
	Client bool
	Quorum bool
	// SizeKiB is the usable size of the DRBD device; 0 when unknown.
	SizeKiB uint64
}

// Connection is this node's connection to one peer.
type Connection struct {
	PeerNodeID  int
	Name        string
	State       string
	PeerRole    string
	PeerDevices []PeerDevice
}

// PeerDevice is the state of one volume as seen over one connection.
type PeerDevice struct {
	Volume           int
	ReplicationState string
	PeerDiskState    string
	PeerClient       bool
	PercentInSync    float64
}

// Device returns the device of volume n, if the resource has it.
func (r *Resource) Device(n int) (*Device, bool) {
	for i := range r.Devices {
		if r.Devices[i].Volume == n {
			return &r.Devices[i], true
		}
	}
	return nil, false
}

// Connection returns the connection named name (the peer's node name).
func (r *Resource) Connection(name string) (*Connection, bool) {
	for i := range r.Connections {
		if r.Connections[i].Name == name {
			return &r.Connections[i], true
		}
	}
	return nil, false
}

// Resyncing reports whether a resync runs (or is paused) between this node
// and a peer, in either direction.
func (r *Resource) Resyncing() bool {
	for _, c := range r.Connections {
		for _, pd := range c.PeerDevices {
			if strings.HasPrefix(pd.ReplicationState, "Sync") || strings.HasPrefix(pd.ReplicationState, "PausedSync") {
				return true
			}
		}
	}
	return false
}
