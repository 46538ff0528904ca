package drbdsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// nodeState is one node's DRBD state of one resource: what its kernel has
// configured (Up and below) and the metadata on its backing disks
// (Volume.MD), which outlives `down`. The file exists while either does.
type nodeState struct {
	Resource string `json:"resource"`
	Node     string `json:"node"`
	// Up: the resource exists in the kernel (new-resource ran, down did not).
	Up      bool              `json:"up"`
	NodeID  int               `json:"nodeId"`
	Role    string            `json:"role,omitempty"`
	Options map[string]string `json:"options,omitempty"`
	Volumes []*volume         `json:"volumes,omitempty"`
	Peers   []*peer           `json:"peers,omitempty"`
}

// volume is one volume of the resource on the node.
type volume struct {
	Number int `json:"volume"`
	Minor  int `json:"minor"`
	// InKernel: new-minor ran (the device exists).
	InKernel bool `json:"inKernel,omitempty"`
	// Client: an intentionally diskless volume (new-minor --diskless).
	Client bool `json:"client,omitempty"`
	// Disk is the attached backing device; empty when not attached.
	Disk        string            `json:"disk,omitempty"`
	DiskOptions map[string]string `json:"diskOptions,omitempty"`
	// UsableKiB is the backing capacity for data, as the kernel last saw it.
	UsableKiB uint64 `json:"usableKiB,omitempty"`
	// SyncSource is the peer this volume is resyncing from, since SyncStart.
	SyncSource string    `json:"syncSource,omitempty"`
	SyncStart  time.Time `json:"syncStart,omitzero"`
	MD         *metadata `json:"md,omitempty"`
}

// metadata is what DRBD keeps on the backing disk.
type metadata struct {
	Disk     string `json:"disk"`
	MaxPeers int    `json:"maxPeers"`
	// State is Inconsistent or UpToDate.
	State string `json:"state"`
	// UUID is the current data generation; History the earlier ones.
	UUID    string   `json:"uuid"`
	History []string `json:"history,omitempty"`
	// UpToDateAt is when the data became UpToDate here.
	UpToDateAt time.Time `json:"upToDateAt,omitzero"`
	// SizeKiB is the last agreed size of the device.
	SizeKiB uint64 `json:"sizeKiB,omitempty"`
}

// peer is a connection of the resource to another node.
type peer struct {
	NodeID     int               `json:"nodeId"`
	Name       string            `json:"name"`
	NetOptions map[string]string `json:"netOptions,omitempty"`
	Paths      []path            `json:"paths,omitempty"`
	// DeviceOptions are the peer-device options by volume number.
	DeviceOptions map[int]map[string]string `json:"deviceOptions,omitempty"`
	// Connect: connect ran and no disconnect since (else StandAlone).
	Connect   bool      `json:"connect,omitempty"`
	ConnectAt time.Time `json:"connectAt,omitzero"`
	// DiscardMyData resolves a split brain in the peer's favour.
	DiscardMyData bool `json:"discardMyData,omitempty"`
	// SplitBrain records why the connection went StandAlone.
	SplitBrain bool `json:"splitBrain,omitempty"`
}

type path struct {
	Local string `json:"local"`
	Peer  string `json:"peer"`
}

// justCreated is the current UUID of new metadata (UUID_JUST_CREATED).
const justCreated = "0000000000000004"

func (n *nodeState) volume(number int) *volume {
	for _, v := range n.Volumes {
		if v.Number == number {
			return v
		}
	}
	return nil
}

func (n *nodeState) volumeByMinor(minor int) *volume {
	for _, v := range n.Volumes {
		if v.Minor == minor {
			return v
		}
	}
	return nil
}

func (n *nodeState) peerByID(id int) *peer {
	for _, p := range n.Peers {
		if p.NodeID == id {
			return p
		}
	}
	return nil
}

// empty reports a state with nothing left in kernel or metadata.
func (n *nodeState) empty() bool {
	return !n.Up && !slices.ContainsFunc(n.Volumes, func(v *volume) bool { return v.MD != nil })
}

// attached reports a volume with a backing disk in use.
func (v *volume) attached() bool { return v.InKernel && v.Disk != "" && v.MD != nil }

// diskState is the kernel's disk state of a volume.
func (v *volume) diskState() string {
	if !v.attached() {
		return "Diskless"
	}
	return v.MD.State
}

// names may become file names: resource names as DRBD allows them, node
// names as host names.
var (
	resourceName = regexp.MustCompile(`^[a-zA-Z0-9_.+-]{1,128}$`)
	nodeName     = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,251}[a-zA-Z0-9])?$`)
)

// store keeps the node files under dir.
type store struct{ dir string }

func (st store) resDir(res string) string { return filepath.Join(st.dir, "resources", res) }

// lock takes the resource's exclusive lock; the returned func releases it.
func (st store) lock(res string) (func(), error) { return st.flock(res, unix.LOCK_EX) }

// rlock takes the resource's shared lock, for reading all its files as
// one consistent state.
func (st store) rlock(res string) (func(), error) { return st.flock(res, unix.LOCK_SH) }

func (st store) flock(res string, how int) (func(), error) {
	if !resourceName.MatchString(res) || res == "." || res == ".." {
		return nil, fmt.Errorf("drbdsim: resource name %q", res)
	}
	dir := st.resDir(res)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("drbdsim: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("drbdsim: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		return nil, fmt.Errorf("drbdsim: lock %s: %w", dir, err)
	}
	return func() { f.Close() }, nil
}

// load reads every node's file of a resource; raw keeps the bytes read so
// that save writes only what changed.
func (st store) load(res string) (map[string]*nodeState, map[string][]byte, error) {
	entries, err := os.ReadDir(st.resDir(res))
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]*nodeState{}, map[string][]byte{}, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("drbdsim: %w", err)
	}
	nodes, raw := map[string]*nodeState{}, map[string][]byte{}
	for _, e := range entries {
		node, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !e.Type().IsRegular() {
			continue
		}
		file := filepath.Join(st.resDir(res), e.Name())
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, nil, fmt.Errorf("drbdsim: %w", err)
		}
		var n nodeState
		if err := json.Unmarshal(data, &n); err != nil {
			return nil, nil, fmt.Errorf("drbdsim: %s: %w", file, err)
		}
		if n.Node != node || n.Resource != res {
			return nil, nil, fmt.Errorf("drbdsim: %s holds node %q resource %q", file, n.Node, n.Resource)
		}
		nodes[node], raw[node] = &n, data
	}
	return nodes, raw, nil
}

// save writes the node files that changed (atomically, by rename) and
// removes those left empty.
func (st store) save(res string, nodes map[string]*nodeState, raw map[string][]byte) error {
	for name, n := range nodes {
		file := filepath.Join(st.resDir(res), name+".json")
		if n.empty() {
			if _, had := raw[name]; had {
				if err := os.Remove(file); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("drbdsim: %w", err)
				}
			}
			continue
		}
		data, err := json.MarshalIndent(n, "", "  ")
		if err != nil {
			return fmt.Errorf("drbdsim: %w", err)
		}
		data = append(data, '\n')
		if bytes.Equal(data, raw[name]) {
			continue
		}
		if err := writeAtomic(file, data); err != nil {
			return err
		}
	}
	return nil
}

func writeAtomic(file string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(file), ".tmp-*")
	if err != nil {
		return fmt.Errorf("drbdsim: %w", err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), file)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("drbdsim: write %s: %w", file, err)
	}
	return nil
}

// resources lists the resources that have a file of node, sorted.
func (st store) resources(node string) ([]string, error) {
	matches, err := filepath.Glob(filepath.Join(st.dir, "resources", "*", node+".json"))
	if err != nil {
		return nil, fmt.Errorf("drbdsim: %w", err)
	}
	out := make([]string, 0, len(matches))
	for _, m := range matches {
		out = append(out, filepath.Base(filepath.Dir(m)))
	}
	slices.Sort(out)
	return out, nil
}

// detach forgets the kernel's use of the backing disk.
func (v *volume) detach() {
	v.Disk, v.UsableKiB, v.DiskOptions, v.SyncSource, v.SyncStart = "", 0, nil, "", time.Time{}
}

func sortVolumes(vols []*volume) {
	slices.SortFunc(vols, func(a, b *volume) int { return a.Number - b.Number })
}

func deleteVolume(vols []*volume, v *volume) []*volume {
	return slices.DeleteFunc(vols, func(x *volume) bool { return x == v })
}
