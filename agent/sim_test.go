package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/agent/drbd"
	"github.com/piraeusctl/piraeusctl/hostexec"
)

// sim is a simulated host for the commands the agent runs when there is no
// device-mapper or DRBD module: it keeps LVM and DRBD state in memory and
// answers reports in lvm2's and drbdsetup's real JSON formats, so converges
// can be run repeatedly against an evolving host.
type sim struct {
	t    *testing.T
	mu   sync.Mutex
	node string

	vgs    map[string]*simVG
	md     map[string]string // backing device -> disk state in the metadata
	kernel map[string]*simRes

	// peersConnected: peers connect as soon as a resource is up.
	peersConnected bool
	// peerDisk is the disk state connected diskful peers report.
	peerDisk string
	// drift makes `drbdadm --dry-run adjust` report work.
	drift bool
}

type simVG struct {
	size, extent uint64
	lvs          map[string]*simLV
}

type simLV struct {
	size     uint64
	attr     string
	pool     string
	tags     []string
	thinPool bool
}

type simRes struct {
	role    string
	devices map[int]*simDev
	peers   []simPeer
}

type simDev struct {
	minor   int
	disk    string
	state   string
	sizeKiB uint64
}

type simPeer struct {
	name     string
	id       int
	diskless bool
}

func newSim(t *testing.T, node string) *sim {
	return &sim{t: t, node: node, vgs: map[string]*simVG{}, md: map[string]string{}, kernel: map[string]*simRes{},
		peersConnected: true, peerDisk: "Inconsistent"}
}

const simPVBytes = 10 << 30

// withThinPool prepares vg0 with thin pool "thinpool".
func (s *sim) withThinPool() *sim {
	s.vgs["vg0"] = &simVG{size: simPVBytes, extent: 4 << 20, lvs: map[string]*simLV{
		"thinpool": {size: simPVBytes - 8<<20, attr: "twi-aotz--", thinPool: true},
	}}
	return s
}

func (s *sim) Run(_ context.Context, cmd hostexec.Cmd) (hostexec.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out, errOut, code := s.dispatch(cmd)
	res := hostexec.Result{Stdout: []byte(out), Stderr: []byte(errOut), ExitCode: code}
	if code != 0 {
		return res, &hostexec.ExitError{Cmd: cmd, ExitCode: code, Stderr: errOut}
	}
	return res, nil
}

func (s *sim) dispatch(cmd hostexec.Cmd) (string, string, int) {
	a := cmd.Args
	switch cmd.Name {
	case "vgs":
		return s.vgsJSON(a[len(a)-1])
	case "lvs":
		return s.lvsJSON(a[len(a)-1])
	case "pvcreate":
		return "", "", 0
	case "vgcreate":
		s.vgs[a[0]] = &simVG{size: uint64(len(a)-1) * simPVBytes, extent: 4 << 20, lvs: map[string]*simLV{}}
		return "", "", 0
	case "lvcreate":
		return s.lvcreate(a)
	case "lvextend":
		vg, lv := s.lv(a[len(a)-1])
		lv.size = vg.roundUp(parseK(a[1]))
		return "", "", 0
	case "lvremove":
		vgName, lvName, _ := strings.Cut(a[len(a)-1], "/")
		delete(s.vgs[vgName].lvs, lvName)
		return "", "", 0
	case "drbdsetup":
		if slices.Equal(a, []string{"status", "--json"}) {
			return s.statusJSON(), "", 0
		}
	case "drbdmeta":
		if st, ok := s.md[a[2]]; ok {
			return st + "/DUnknown\n", "", 0
		}
		return "", "No valid meta data found\n", 255
	case "drbdadm":
		if cmd.Hostname != s.node {
			return "", "drbdadm must run with the node name as host name", 1
		}
		return s.drbdadm(a[1], a[2:])
	}
	assert.Fail(s.t, "sim: unexpected command", "%s", cmd)
	return "", "unexpected", 127
}

func parseK(v string) uint64 {
	n, err := strconv.ParseUint(strings.TrimSuffix(v, "k"), 10, 64)
	if err != nil {
		panic(err)
	}
	return n * 1024
}

func (vg *simVG) roundUp(b uint64) uint64 { return (b + vg.extent - 1) / vg.extent * vg.extent }

func (vg *simVG) free() uint64 {
	free := vg.size
	for _, lv := range vg.lvs {
		if lv.pool == "" {
			free -= lv.size
		}
	}
	return free
}

func (s *sim) lv(path string) (*simVG, *simLV) {
	vgName, lvName, _ := strings.Cut(path, "/")
	vg := s.vgs[vgName]
	return vg, vg.lvs[lvName]
}

func (s *sim) lvcreate(a []string) (string, string, int) {
	vg := s.vgs[a[len(a)-1]]
	lv := &simLV{attr: "-wi-ao----"}
	var name string
	for i := 0; i < len(a)-1; i++ {
		switch a[i] {
		case "--name":
			name = a[i+1]
		case "--addtag":
			lv.tags = append(lv.tags, a[i+1])
		case "--size", "--virtualsize":
			lv.size = vg.roundUp(parseK(a[i+1]))
		case "--thinpool":
			lv.pool = a[i+1]
		case "--extents":
			lv.size = vg.free() - 8<<20
		}
	}
	if name == "" { // lvcreate --extents 100%FREE --thinpool NAME VG
		name, lv.pool, lv.thinPool, lv.attr = lv.pool, "", true, "twi-aotz--"
	} else if lv.pool != "" {
		lv.attr = "Vwi-aotz--"
	}
	if _, exists := vg.lvs[name]; exists {
		return "", fmt.Sprintf("  Logical Volume %q already exists in volume group", name), 5
	}
	vg.lvs[name] = lv
	return "", "", 0
}

func (s *sim) vgsJSON(name string) (string, string, int) {
	vg, ok := s.vgs[name]
	if !ok {
		return "  {\n      \"report\": [\n          {\n              \"vg\": [\n              ]\n          }\n      ]\n  }\n",
			fmt.Sprintf("  Volume group \"%s\" not found\n  Cannot process volume group %s\n", name, name), 5
	}
	return fmt.Sprintf(`  {
      "report": [
          {
              "vg": [
                  {"vg_name":"%s", "vg_size":"%d", "vg_free":"%d", "vg_extent_size":"%d"}
              ]
          }
      ]
  }
`, name, vg.size, vg.free(), vg.extent), "", 0
}

func (s *sim) lvsJSON(name string) (string, string, int) {
	vg, ok := s.vgs[name]
	if !ok {
		return "", fmt.Sprintf("  Volume group \"%s\" not found\n", name), 5
	}
	var rows []string
	for _, n := range sortedKeys(vg.lvs) {
		lv := vg.lvs[n]
		path, pct := "/dev/"+name+"/"+n, ""
		if lv.thinPool {
			path, pct = "", "1.00"
		} else if lv.pool != "" {
			pct = "0.00"
		}
		rows = append(rows, fmt.Sprintf(`{"lv_name":"%s", "lv_path":"%s", "lv_size":"%d", "lv_attr":"%s", "pool_lv":"%s", "data_percent":"%s", "lv_tags":"%s"}`,
			n, path, lv.size, lv.attr, lv.pool, pct, strings.Join(lv.tags, ",")))
	}
	return "  {\n      \"report\": [\n          {\n              \"lv\": [\n                  " +
		strings.Join(rows, ",\n                  ") + "\n              ]\n          }\n      ]\n  }\n", "", 0
}

// backingKiB is the size of a device the sim knows (an LV).
func (s *sim) backingKiB(dev string) uint64 {
	for vgName, vg := range s.vgs {
		for n, lv := range vg.lvs {
			if "/dev/"+vgName+"/"+n == dev {
				return lv.size / 1024
			}
		}
	}
	assert.Fail(s.t, "sim: unknown device", dev)
	return 0
}

func (s *sim) drbdadm(conf string, args []string) (string, string, int) {
	verbAt := slices.IndexFunc(args, func(a string) bool {
		return slices.Contains([]string{"create-md", "new-current-uuid", "up", "adjust", "primary", "secondary", "resize", "down", "wipe-md"}, a)
	})
	verb, target := args[verbAt], args[len(args)-1]
	resName, volStr, _ := strings.Cut(target, "/")
	vol, _ := strconv.Atoi(volStr)
	c := parseConf(s.t, conf, s.node)
	res := s.kernel[resName]
	switch {
	case slices.Contains(args, "--dry-run"):
		if s.drift {
			return "drbdsetup connect " + resName + " 1\n", "", 0
		}
		return "", "", 0
	case verb == "create-md":
		s.md[c.disks[vol]] = "Inconsistent"
	case verb == "wipe-md":
		delete(s.md, c.disks[vol])
	case verb == "up", verb == "adjust":
		return s.up(resName, c)
	case verb == "down":
		delete(s.kernel, resName)
	case res == nil:
		return "", resName + ": not defined in the kernel", 10
	case verb == "new-current-uuid":
		res.devices[vol].state, s.md[c.disks[vol]] = "UpToDate", "UpToDate"
		s.peerDisk = "UpToDate"
	case verb == "primary":
		res.role = "Primary"
		for _, d := range res.devices {
			if d.disk != "none" {
				d.state, s.md[d.disk] = "UpToDate", "UpToDate"
			}
		}
	case verb == "secondary":
		res.role = "Secondary"
	case verb == "resize":
		d := res.devices[vol]
		d.sizeKiB = s.backingKiB(d.disk) - drbd.InternalMetaSizeKiB(s.backingKiB(d.disk), 0)
	}
	return "", "", 0
}

func (s *sim) up(name string, c simConf) (string, string, int) {
	res := s.kernel[name]
	if res == nil {
		res = &simRes{role: "Secondary", devices: map[int]*simDev{}}
		s.kernel[name] = res
	}
	for vol, disk := range c.disks {
		if _, ok := res.devices[vol]; ok {
			continue
		}
		d := &simDev{minor: c.minors[vol], disk: disk, state: "Diskless"}
		if disk != "none" {
			st, ok := s.md[disk]
			if !ok {
				return "", "No valid meta data found", 10
			}
			d.state = st
			d.sizeKiB = s.backingKiB(disk) - drbd.InternalMetaSizeKiB(s.backingKiB(disk), 0)
		}
		res.devices[vol] = d
	}
	res.peers = c.peers
	return "", "", 0
}

func (s *sim) statusJSON() string {
	type pd struct {
		Volume      int     `json:"volume"`
		Replication string  `json:"replication-state"`
		PeerDisk    string  `json:"peer-disk-state"`
		PeerClient  bool    `json:"peer-client"`
		InSync      float64 `json:"percent-in-sync"`
	}
	type conn struct {
		PeerNodeID int    `json:"peer-node-id"`
		Name       string `json:"name"`
		State      string `json:"connection-state"`
		PeerRole   string `json:"peer-role"`
		PeerDevs   []pd   `json:"peer_devices"`
	}
	type dev struct {
		Volume int    `json:"volume"`
		Minor  int    `json:"minor"`
		Disk   string `json:"disk-state"`
		Client bool   `json:"client"`
		Quorum bool   `json:"quorum"`
		Size   uint64 `json:"size"`
	}
	type res struct {
		Name    string `json:"name"`
		NodeID  int    `json:"node-id"`
		Role    string `json:"role"`
		Devices []dev  `json:"devices"`
		Conns   []conn `json:"connections"`
	}
	out := []res{}
	for _, name := range sortedKeys(s.kernel) {
		k := s.kernel[name]
		r := res{Name: name, Role: k.role}
		for _, vol := range slices.Sorted(mapsKeys(k.devices)) {
			d := k.devices[vol]
			r.Devices = append(r.Devices, dev{Volume: vol, Minor: d.minor, Disk: d.state, Client: d.disk == "none", Quorum: true, Size: d.sizeKiB})
		}
		for _, p := range k.peers {
			c := conn{PeerNodeID: p.id, Name: p.name, State: "Connecting", PeerRole: "Unknown"}
			for _, vol := range slices.Sorted(mapsKeys(k.devices)) {
				x := pd{Volume: vol, Replication: "Off", PeerDisk: "DUnknown"}
				if s.peersConnected {
					x.Replication, x.PeerDisk, x.InSync = "Established", s.peerDisk, 100
					if p.diskless {
						x.PeerDisk, x.PeerClient = "Diskless", true
					}
				}
				c.PeerDevs = append(c.PeerDevs, x)
			}
			if s.peersConnected {
				c.State, c.PeerRole = "Connected", "Secondary"
			}
			r.Conns = append(r.Conns, c)
		}
		out = append(out, r)
	}
	b, err := json.MarshalIndent(out, "", "  ")
	require.NoError(s.t, err)
	return string(b) + "\n"
}

func mapsKeys[V any](m map[int]V) func(func(int) bool) {
	return func(yield func(int) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// simConf is what the sim needs from a resource file.
type simConf struct {
	disks  map[int]string
	minors map[int]int
	peers  []simPeer
}

var (
	onRe     = regexp.MustCompile(`^\s*on "([^"]+)" \{`)
	nodeIDRe = regexp.MustCompile(`^\s*node-id (\d+);`)
	volRe    = regexp.MustCompile(`^\s*volume (\d+) \{`)
	minorRe  = regexp.MustCompile(`^\s*device minor (\d+);`)
	diskRe   = regexp.MustCompile(`^\s*disk (\S+);`)
)

func parseConf(t *testing.T, path, node string) simConf {
	f, err := os.Open(path)
	require.NoError(t, err, "sim")
	defer f.Close()
	c := simConf{disks: map[int]string{}, minors: map[int]int{}}
	var host string
	vol := -1
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if m := onRe.FindStringSubmatch(l); m != nil {
			host = m[1]
			if host != node {
				c.peers = append(c.peers, simPeer{name: host, diskless: true})
			}
		}
		if m := nodeIDRe.FindStringSubmatch(l); m != nil && host != node {
			c.peers[len(c.peers)-1].id, _ = strconv.Atoi(m[1])
		}
		if m := volRe.FindStringSubmatch(l); m != nil {
			vol, _ = strconv.Atoi(m[1])
		}
		if m := minorRe.FindStringSubmatch(l); m != nil && host == node {
			c.minors[vol], _ = strconv.Atoi(m[1])
		}
		if m := diskRe.FindStringSubmatch(l); m != nil {
			if host == node {
				c.disks[vol] = m[1]
			} else if m[1] != "none" {
				c.peers[len(c.peers)-1].diskless = false
			}
		}
	}
	return c
}
