package drbdsim

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/agent/drbd"
	"github.com/piraeusctl/piraeusctl/agent/internal/drbdcheck"
	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
	"github.com/piraeusctl/piraeusctl/hostexec"
)

// fakeHost answers the simulated kernel's device size reads for devices
// that exist only in the test (sizes in bytes); a missing device fails as
// blockdev does.
type fakeHost struct {
	mu   sync.Mutex
	size map[string]uint64
}

func (h *fakeHost) Run(_ context.Context, cmd hostexec.Cmd) (hostexec.Result, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if cmd.Name == "blockdev" && len(cmd.Args) == 2 && cmd.Args[0] == "--getsize64" {
		if n, ok := h.size[cmd.Args[1]]; ok {
			return hostexec.Result{Stdout: fmt.Appendf(nil, "%d\n", n)}, nil
		}
		msg := "blockdev: cannot open " + cmd.Args[1] + ": No such file or directory\n"
		return hostexec.Result{ExitCode: 1}, &hostexec.ExitError{Cmd: cmd, ExitCode: 1, Stderr: msg}
	}
	return hostexec.Result{}, fmt.Errorf("fake host: unexpected command %s", cmd)
}

func (h *fakeHost) setSize(dev string, bytes uint64) {
	h.mu.Lock()
	h.size[dev] = bytes
	h.mu.Unlock()
}

// clock is a test clock shared by the nodes.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// lab is several simulated nodes sharing one state directory and one host.
type lab struct {
	t     testing.TB
	dir   string
	host  *fakeHost
	clock *clock
	nodes map[string]*Sim
	confs string
}

func newLab(t testing.TB, resync time.Duration, names ...string) *lab {
	t.Helper()
	drbdcheck.Require(t)
	l := &lab{t: t, dir: t.TempDir(), confs: t.TempDir(), host: &fakeHost{size: map[string]uint64{}},
		clock: &clock{now: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)}, nodes: map[string]*Sim{}}
	for _, n := range names {
		s, err := New(Config{Dir: l.dir, Node: n, Next: l.host, Drbdadm: &hostexec.Local{Logger: slog.New(slog.DiscardHandler)},
			ResyncTime: resync, Now: l.clock.Now, Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		l.nodes[n] = s
	}
	return l
}

// member is one replica of a test resource.
type member struct {
	node     string
	id       uint32
	diskless bool
}

// resource writes each member's resource file (as the agent renders it)
// and creates the diskful members' backing devices.
func (l *lab) resource(name string, minor uint32, sizeBytes uint64, quorum bool, members ...member) {
	l.t.Helper()
	for _, m := range members {
		d := &agentv1.DrbdResource{Port: 7000 + minor - 1000, NodeId: m.id, Address: addr(m.id)}
		if quorum {
			d.Quorum = &agentv1.Quorum{Policy: agentv1.QuorumPolicy_QUORUM_MAJORITY, OnNoQuorum: agentv1.OnNoQuorum_ON_NO_QUORUM_IO_ERROR}
		}
		for _, p := range members {
			if p.node != m.node {
				d.Peers = append(d.Peers, &agentv1.DrbdPeer{NodeName: p.node, NodeId: p.id, Address: addr(p.id), Diskless: p.diskless})
			}
		}
		vol := drbd.Volume{Number: 0, Minor: minor}
		if !m.diskless {
			vol.Disk = l.disk(m.node, name)
			l.host.setSize(vol.Disk, sizeBytes)
		}
		data, err := drbd.Render(&drbd.ResFile{Node: m.node, UID: "uid-" + name, Name: name, DRBD: d, Volumes: []drbd.Volume{vol}})
		require.NoError(l.t, err)
		require.NoError(l.t, os.MkdirAll(filepath.Join(l.confs, m.node), 0o755))
		require.NoError(l.t, os.WriteFile(l.conf(m.node, name), data, 0o644))
	}
}

func addr(id uint32) string { return fmt.Sprintf("10.0.0.%d", id+1) }

func (l *lab) disk(node, res string) string { return "/dev/fake/" + node + "/" + res }

func (l *lab) conf(node, res string) string { return filepath.Join(l.confs, node, res+".res") }

func (l *lab) admin(node, res string) drbd.Admin {
	return drbd.Admin{Node: node, ConfFile: l.conf(node, res), Resource: res}
}

// run runs cmd on node and fails the test on an error.
func (l *lab) run(node string, cmd hostexec.Cmd) string {
	l.t.Helper()
	res, err := l.nodes[node].Run(l.t.Context(), cmd)
	require.NoError(l.t, err, "%s: %s", node, cmd)
	return string(res.Stdout)
}

// fail runs cmd on node and returns its exit code and stderr; it must fail.
func (l *lab) fail(node string, cmd hostexec.Cmd) (int, string) {
	l.t.Helper()
	res, err := l.nodes[node].Run(l.t.Context(), cmd)
	code, ok := hostexec.ExitCode(err)
	require.True(l.t, ok, "%s: %s: want an exit error, got %v", node, cmd, err)
	return code, string(res.Stderr)
}

// up creates metadata on a diskful node and brings the resource up.
func (l *lab) up(node, res string, diskful bool) {
	l.t.Helper()
	adm := l.admin(node, res)
	if diskful {
		l.run(node, adm.CreateMD(0, 0))
	}
	l.run(node, adm.Up())
}

// status parses node's `drbdsetup status --json` with the agent's parser.
func (l *lab) status(node string) map[string]drbd.Resource {
	l.t.Helper()
	out := l.run(node, drbd.StatusJSON())
	list, err := drbd.ParseStatusJSON([]byte(out))
	require.NoError(l.t, err, "%s: %v\n%s", node, err, out)
	m := map[string]drbd.Resource{}
	for _, r := range list {
		m[r.Name] = r
	}
	return m
}

// summary is a compact line per device and connection of node's status.
func (l *lab) summary(node string) string {
	l.t.Helper()
	var b strings.Builder
	st := l.status(node)
	for _, name := range slices.Sorted(maps.Keys(st)) {
		r := st[name]
		fmt.Fprintf(&b, "%s %s", name, r.Role)
		for _, d := range r.Devices {
			fmt.Fprintf(&b, " vol%d:%s", d.Volume, d.DiskState)
			if !d.Quorum {
				b.WriteString("(no quorum)")
			}
		}
		for _, c := range r.Connections {
			fmt.Fprintf(&b, " %s:%s", c.Name, c.State)
			for _, pd := range c.PeerDevices {
				fmt.Fprintf(&b, "/%s/%s", pd.ReplicationState, pd.PeerDiskState)
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}
