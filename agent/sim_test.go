package agent

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/agent/drbdsim"
	"github.com/piraeusctl/piraeusctl/agent/internal/drbdcheck"
	"github.com/piraeusctl/piraeusctl/hostexec"
)

// lvmHost is a simulated host for the LVM commands the agent runs where
// there is no device-mapper: it keeps volume groups in memory and answers
// in lvm2's real JSON report format (and `blockdev --getsize64` for its
// volumes), so converges can run repeatedly against an evolving host. DRBD
// is simulated by package drbdsim in front of it.
type lvmHost struct {
	t   *testing.T
	mu  sync.Mutex
	vgs map[string]*simVG
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

func newLVMHost(t *testing.T) *lvmHost { return &lvmHost{t: t, vgs: map[string]*simVG{}} }

// newDRBDSim puts a simulated DRBD 9 kernel of node, with its state in
// dir, in front of next; drbdadm commands are checked by the real drbdadm.
func newDRBDSim(t testing.TB, node, dir string, next hostexec.Executor) *drbdsim.Sim {
	t.Helper()
	drbdcheck.Require(t)
	s, err := drbdsim.New(drbdsim.Config{Dir: dir, Node: node, Next: next,
		Drbdadm: &hostexec.Local{Logger: slog.New(slog.DiscardHandler)}, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	return s
}

const simPVBytes = 10 << 30

// withThinPool prepares vg0 with thin pool "thinpool".
func (s *lvmHost) withThinPool() *lvmHost {
	s.vgs["vg0"] = &simVG{size: simPVBytes, extent: 4 << 20, lvs: map[string]*simLV{
		"thinpool": {size: simPVBytes - 8<<20, attr: "twi-aotz--", thinPool: true},
	}}
	return s
}

func (s *lvmHost) Run(_ context.Context, cmd hostexec.Cmd) (hostexec.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out, errOut, code := s.dispatch(cmd)
	res := hostexec.Result{Stdout: []byte(out), Stderr: []byte(errOut), ExitCode: code}
	if code != 0 {
		return res, &hostexec.ExitError{Cmd: cmd, ExitCode: code, Stderr: errOut}
	}
	return res, nil
}

func (s *lvmHost) dispatch(cmd hostexec.Cmd) (string, string, int) {
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
		if slices.Contains(a, "--snapshot") {
			return s.lvsnapshot(a)
		}
		return s.lvcreate(a)
	case "lvchange":
		return s.lvchange(a)
	case "lvextend":
		vg, lv := s.lv(a[len(a)-1])
		lv.size = vg.roundUp(parseK(a[1]))
		return "", "", 0
	case "lvremove":
		vgName, lvName, _ := strings.Cut(a[len(a)-1], "/")
		delete(s.vgs[vgName].lvs, lvName)
		return "", "", 0
	case "blockdev":
		if lv := s.lvByPath(a[len(a)-1]); len(a) == 2 && a[0] == "--getsize64" && lv != nil {
			return strconv.FormatUint(lv.size, 10) + "\n", "", 0
		}
		return "", "blockdev: cannot open " + a[len(a)-1] + ": No such file or directory\n", 1
	}
	assert.Fail(s.t, fmt.Sprintf("lvm host: unexpected command %s", cmd))
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

func (s *lvmHost) lv(path string) (*simVG, *simLV) {
	vgName, lvName, _ := strings.Cut(path, "/")
	vg := s.vgs[vgName]
	return vg, vg.lvs[lvName]
}

func (s *lvmHost) lvByPath(dev string) *simLV {
	for vgName, vg := range s.vgs {
		for n, lv := range vg.lvs {
			if "/dev/"+vgName+"/"+n == dev && !lv.thinPool {
				return lv
			}
		}
	}
	return nil
}

func (s *lvmHost) lvcreate(a []string) (string, string, int) {
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

// lvsnapshot is `lvcreate --snapshot` of a thin LV: a thin LV of the same
// size and pool, inactive with the activation skip flag unless
// --setactivationskip n, carrying only the tags given (lvm2 copies none).
func (s *lvmHost) lvsnapshot(a []string) (string, string, int) {
	vg, origin := s.lv(a[len(a)-1])
	if origin == nil || origin.pool == "" {
		return "", fmt.Sprintf("  Failed to find logical volume %q\n", a[len(a)-1]), 5
	}
	lv := &simLV{size: origin.size, pool: origin.pool, attr: "Vri---tz-k"}
	var name string
	for i := 0; i < len(a)-1; i++ {
		switch a[i] {
		case "--name":
			name = a[i+1]
		case "--addtag":
			lv.tags = append(lv.tags, a[i+1])
		case "--setactivationskip":
			if a[i+1] == "n" {
				lv.attr = "Vwi-a-tz--"
			}
		}
	}
	if _, exists := vg.lvs[name]; exists {
		return "", fmt.Sprintf("  Logical Volume %q already exists in volume group", name), 5
	}
	vg.lvs[name] = lv
	return "", "", 0
}

// lvchange handles --deltag and --activate y.
func (s *lvmHost) lvchange(a []string) (string, string, int) {
	_, lv := s.lv(a[len(a)-1])
	if lv == nil {
		return "", fmt.Sprintf("  Failed to find logical volume %q\n", a[len(a)-1]), 5
	}
	for i := 0; i < len(a)-1; i++ {
		switch a[i] {
		case "--deltag":
			lv.tags = slices.DeleteFunc(lv.tags, func(t string) bool { return t == a[i+1] })
		case "--activate":
			lv.attr = lv.attr[:4] + "a" + lv.attr[5:]
		}
	}
	return "", "", 0
}

func (s *lvmHost) vgsJSON(name string) (string, string, int) {
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

func (s *lvmHost) lvsJSON(name string) (string, string, int) {
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

// hasLV reports whether the host holds a logical volume.
func (s *lvmHost) hasLV(vg, name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.vgs[vg].lvs[name]
	return ok
}
