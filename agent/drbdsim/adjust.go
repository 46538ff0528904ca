package drbdsim

import (
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/piraeusctl/piraeusctl/hostexec"
)

// planAdjust turns drbdadm's full configuration of one or more resources
// (what `drbdadm --dry-run adjust` prints when it finds no kernel) into
// what adjust must change in this node's simulated kernel: all of it for a
// resource that is down, only the difference for one that is up.
func (s *Sim) planAdjust(script []hostexec.Cmd) ([]hostexec.Cmd, error) {
	groups, err := byResource(script)
	if err != nil {
		return nil, err
	}
	var out []hostexec.Cmd
	for _, g := range groups {
		nodes, _, err := s.store.load(g.res)
		if err != nil {
			return nil, err
		}
		me := nodes[s.cfg.Node]
		if me == nil || !me.Up {
			out = append(out, g.lines...)
			continue
		}
		out = append(out, planResource(me, parseTarget(g.lines))...)
	}
	return out, nil
}

type resourceLines struct {
	res   string
	lines []hostexec.Cmd
}

// byResource groups kernel commands by the resource they act on (minors
// are mapped through the script's new-minor lines), keeping their order.
func byResource(script []hostexec.Cmd) ([]resourceLines, error) {
	minorRes := map[string]string{}
	var groups []resourceLines
	for _, k := range script {
		res := ""
		if k.Name == "drbdmeta" {
			res = minorRes[firstPositional(k.Args)]
		} else {
			c := splitSetup(k.Args)
			_, byRes := resourceOps[c.verb]
			switch {
			case len(c.pos) == 0:
			case byRes:
				res = c.pos[0]
				if c.verb == "new-minor" && len(c.pos) > 1 {
					minorRes[c.pos[1]] = res
				}
			default:
				res = minorRes[c.pos[0]]
			}
		}
		if res == "" {
			return nil, fmt.Errorf("drbdsim: adjust: cannot tell the resource of %q", k.Line())
		}
		i := slices.IndexFunc(groups, func(g resourceLines) bool { return g.res == res })
		if i < 0 {
			groups = append(groups, resourceLines{res: res})
			i = len(groups) - 1
		}
		groups[i].lines = append(groups[i].lines, k)
	}
	return groups, nil
}

func firstPositional(args []string) string {
	for _, a := range args {
		if len(a) > 0 && a[0] != '-' {
			return a
		}
	}
	return ""
}

// target is a resource's configuration as drbdadm's commands state it.
type target struct {
	res     string
	options map[string]string
	minors  map[int]targetMinor // by volume
	peers   map[int]*targetPeer // by node id
	attach  map[int]targetDisk  // by volume
	ids     []int               // peer node ids in script order
	vols    []int               // volumes in script order
}

type targetMinor struct {
	minor    int
	diskless bool
	line     hostexec.Cmd
}

type targetPeer struct {
	name      string
	options   map[string]string
	newPeer   hostexec.Cmd
	paths     []path
	pathLines []hostexec.Cmd
	devOpts   map[int]hostexec.Cmd
	connect   *hostexec.Cmd
}

type targetDisk struct {
	disk    string
	options map[string]string
	applyAL *hostexec.Cmd
	attach  hostexec.Cmd
}

func parseTarget(lines []hostexec.Cmd) *target {
	t := &target{minors: map[int]targetMinor{}, peers: map[int]*targetPeer{}, attach: map[int]targetDisk{}}
	volOfMinor := map[string]int{}
	var pendingAL *hostexec.Cmd
	for _, k := range lines {
		if k.Name == "drbdmeta" {
			pendingAL = &k
			continue
		}
		c := splitSetup(k.Args)
		switch c.verb {
		case "new-resource":
			t.res, t.options = c.pos[0], c.settings()
		case "new-minor":
			minor, _ := strconv.Atoi(c.pos[1])
			vol, _ := strconv.Atoi(c.pos[2])
			t.minors[vol] = targetMinor{minor: minor, diskless: c.has("diskless"), line: k}
			volOfMinor[c.pos[1]] = vol
			t.vols = append(t.vols, vol)
		case "new-peer":
			id, _ := strconv.Atoi(c.pos[1])
			name := ""
			for _, o := range c.opts {
				if o.key == "_name" {
					name = o.value
				}
			}
			t.peers[id] = &targetPeer{name: name, options: c.settings(), newPeer: k, devOpts: map[int]hostexec.Cmd{}}
			t.ids = append(t.ids, id)
		case "new-path", "peer-device-options", "connect":
			id, _ := strconv.Atoi(c.pos[1])
			p := t.peers[id]
			if p == nil {
				continue
			}
			switch c.verb {
			case "new-path":
				p.paths = append(p.paths, path{Local: c.pos[2], Peer: c.pos[3]})
				p.pathLines = append(p.pathLines, k)
			case "peer-device-options":
				vol, _ := strconv.Atoi(c.pos[2])
				p.devOpts[vol] = k
			case "connect":
				p.connect = &k
			}
		case "attach":
			if vol, ok := volOfMinor[c.pos[0]]; ok {
				t.attach[vol] = targetDisk{disk: c.pos[1], options: c.settings(), applyAL: pendingAL, attach: k}
			}
			pendingAL = nil
		}
	}
	return t
}

func setupCmd(args ...string) hostexec.Cmd {
	return hostexec.Cmd{Name: "drbdsetup", Args: args, Mutating: true}
}

// withDefaults renders a command that replaces all options of an object.
func withDefaults(base []string, opts map[string]string) hostexec.Cmd {
	args := append(base, "--set-defaults")
	for _, k := range slices.Sorted(maps.Keys(opts)) {
		args = append(args, option{k, opts[k]}.String())
	}
	return setupCmd(args...)
}

// planResource lists the commands that make me's kernel match t, in
// drbdadm's order: options, removals, new devices and peers, paths and
// peer-device options, disks, connections.
func planResource(me *nodeState, t *target) []hostexec.Cmd {
	var out []hostexec.Cmd
	res := me.Resource
	if !maps.Equal(t.options, me.Options) {
		out = append(out, withDefaults([]string{"resource-options", res}, t.options))
	}
	kept := map[int]bool{}
	for _, p := range me.Peers {
		tp := t.peers[p.NodeID]
		if tp != nil && tp.name == p.Name {
			kept[p.NodeID] = true
			continue
		}
		if p.Connect {
			out = append(out, setupCmd("disconnect", res, strconv.Itoa(p.NodeID)))
		}
		out = append(out, setupCmd("del-peer", res, strconv.Itoa(p.NodeID)))
	}
	minorOK := map[int]bool{}
	for _, v := range me.Volumes {
		if !v.InKernel {
			continue
		}
		tm, ok := t.minors[v.Number]
		if ok && tm.minor == v.Minor && tm.diskless == v.Client {
			minorOK[v.Number] = true
			continue
		}
		minor := strconv.Itoa(v.Minor)
		if v.Disk != "" {
			out = append(out, setupCmd("detach", minor))
		}
		out = append(out, setupCmd("del-minor", minor))
	}
	for _, vol := range t.vols {
		if !minorOK[vol] {
			out = append(out, t.minors[vol].line)
		}
	}
	for _, id := range t.ids {
		if !kept[id] {
			out = append(out, t.peers[id].newPeer)
		}
	}
	for _, id := range t.ids {
		out = append(out, planPeer(me, t, id, kept[id])...)
	}
	for _, vol := range t.vols {
		out = append(out, planDisk(me.volume(vol), t, vol, minorOK[vol])...)
	}
	for _, id := range t.ids {
		tp := t.peers[id]
		if p := me.peerByID(id); tp.connect != nil && (!kept[id] || !p.Connect) {
			out = append(out, *tp.connect)
		}
	}
	return out
}

// planPeer changes one peer's net options, paths and peer-device options.
func planPeer(me *nodeState, t *target, id int, kept bool) []hostexec.Cmd {
	tp, res, sid := t.peers[id], me.Resource, strconv.Itoa(id)
	if !kept {
		out := slices.Clone(tp.pathLines)
		for _, vol := range t.vols {
			if line, ok := tp.devOpts[vol]; ok {
				out = append(out, line)
			}
		}
		return out
	}
	var out []hostexec.Cmd
	p := me.peerByID(id)
	if !maps.Equal(tp.options, p.NetOptions) {
		out = append(out, withDefaults([]string{"net-options", res, sid}, tp.options))
	}
	for i, want := range tp.paths {
		if !slices.Contains(p.Paths, want) {
			out = append(out, tp.pathLines[i])
		}
	}
	for _, have := range p.Paths {
		if !slices.Contains(tp.paths, have) {
			out = append(out, setupCmd("del-path", res, sid, have.Local, have.Peer))
		}
	}
	for _, vol := range t.vols {
		line, ok := tp.devOpts[vol]
		var want map[string]string
		if ok {
			want = splitSetup(line.Args).settings()
		}
		if maps.Equal(want, p.DeviceOptions[vol]) {
			continue
		}
		if !ok {
			line = setupCmd("peer-device-options", res, sid, strconv.Itoa(vol), "--set-defaults")
		}
		out = append(out, line)
	}
	return out
}

// planDisk attaches, re-attaches or detaches one volume's disk, or
// changes its disk options.
func planDisk(v *volume, t *target, vol int, kept bool) []hostexec.Cmd {
	td, wantDisk := t.attach[vol]
	minor := strconv.Itoa(t.minors[vol].minor)
	attached := kept && v != nil && v.Disk != ""
	var out []hostexec.Cmd
	switch {
	case !wantDisk && attached:
		return []hostexec.Cmd{setupCmd("detach", minor)}
	case !wantDisk:
		return nil
	case attached && v.Disk == td.disk:
		if !maps.Equal(td.options, v.DiskOptions) {
			out = append(out, withDefaults([]string{"disk-options", minor}, td.options))
		}
		return out
	case attached:
		out = append(out, setupCmd("detach", minor))
	}
	if td.applyAL != nil {
		out = append(out, *td.applyAL)
	}
	return append(out, td.attach)
}
