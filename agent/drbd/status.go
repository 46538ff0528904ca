package drbd

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// statusJSON mirrors `drbdsetup status --json` (drbd-utils 9.x).
type statusJSON struct {
	Name      string `json:"name"`
	NodeID    *int   `json:"node-id"`
	Role      string `json:"role"`
	Suspended bool   `json:"suspended"`
	ForceIO   bool   `json:"force-io-failures"`
	Devices   []struct {
		Volume    int     `json:"volume"`
		Minor     int     `json:"minor"`
		DiskState string  `json:"disk-state"`
		Client    bool    `json:"client"`
		Quorum    bool    `json:"quorum"`
		Size      *uint64 `json:"size"`
	} `json:"devices"`
	Connections []struct {
		PeerNodeID  int    `json:"peer-node-id"`
		Name        string `json:"name"`
		State       string `json:"connection-state"`
		PeerRole    string `json:"peer-role"`
		PeerDevices []struct {
			Volume           int     `json:"volume"`
			ReplicationState string  `json:"replication-state"`
			PeerDiskState    string  `json:"peer-disk-state"`
			PeerClient       bool    `json:"peer-client"`
			PercentInSync    float64 `json:"percent-in-sync"`
		} `json:"peer_devices"`
	} `json:"connections"`
}

// ParseStatusJSON parses the output of `drbdsetup status --json`. Empty
// output (no resources, or no DRBD at all) yields no resources.
func ParseStatusJSON(out []byte) ([]Resource, error) {
	if len(bytes.TrimSpace(out)) == 0 {
		return nil, nil
	}
	var raw []statusJSON
	if err := json.Unmarshal(out, &raw); err != nil {
		return nil, fmt.Errorf("parse drbdsetup status --json: %w", err)
	}
	res := make([]Resource, 0, len(raw))
	for _, r := range raw {
		if r.Name == "" {
			return nil, fmt.Errorf("parse drbdsetup status --json: resource without name")
		}
		res = append(res, fromStatusJSON(r))
	}
	return res, nil
}

func fromStatusJSON(r statusJSON) Resource {
	out := Resource{Name: r.Name, NodeID: -1, Role: r.Role, Suspended: r.Suspended, ForceIOFailures: r.ForceIO}
	if r.NodeID != nil {
		out.NodeID = *r.NodeID
	}
	for _, d := range r.Devices {
		dev := Device{Volume: d.Volume, Minor: d.Minor, DiskState: d.DiskState, Client: d.Client, Quorum: d.Quorum}
		if d.Size != nil {
			dev.SizeKiB = *d.Size
		}
		out.Devices = append(out.Devices, dev)
	}
	for _, c := range r.Connections {
		conn := Connection{PeerNodeID: c.PeerNodeID, Name: c.Name, State: c.State, PeerRole: c.PeerRole}
		for _, pd := range c.PeerDevices {
			conn.PeerDevices = append(conn.PeerDevices, PeerDevice{
				Volume: pd.Volume, ReplicationState: pd.ReplicationState, PeerDiskState: pd.PeerDiskState,
				PeerClient: pd.PeerClient, PercentInSync: pd.PercentInSync,
			})
		}
		out.Connections = append(out.Connections, conn)
	}
	return out
}
