package lab

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/internal/freeport"
	"github.com/piraeusctl/piraeusctl/internal/testpki"
)

// Options shape a cluster of lab VMs.
type Options struct {
	// VMs is the number of guests, named node-a, node-b, ...
	VMs int
	// MemoryMiB per guest; 0 means DefaultMemoryMiB.
	MemoryMiB int
	// DiskMiB is the size of each guest's raw disk; 0 means DefaultDiskMiB.
	DiskMiB int
	// BootTimeout bounds the boot of all guests; 0 means six minutes (a
	// guest boots in ~15 s on idle cores, but takes minutes when the host is
	// shared with busy builds).
	BootTimeout time.Duration
	// DRBD is the DRBD module set the guests load: DRBD9 (the default, built
	// by hack/lab/lab.sh) or DRBD84 (the kernel's in-tree module).
	DRBD DRBDModule
	// GuestForwards are host services the guests reach through qemu's user
	// network (for a component in a guest that calls the host, such as the
	// ha-controller calling the API server).
	GuestForwards []GuestForward
	// HostForwards are more guest TCP ports forwarded to 127.0.0.1 on the
	// host, each to a free port (VM.ForwardedAddr names it), for a service
	// in a guest that the test calls, such as a CSI node service.
	HostForwards []int
	// Ports hands out every host port of the cluster (links, forwards);
	// nil means a Picker of its own. A test that picks a port before Boot,
	// for a GuestForward, passes the Picker it picked it from.
	Ports *freeport.Picker
}

// GuestForward carries a guest's TCP connections to GuestForwardAddr:
// GuestPort to 127.0.0.1:HostPort on the host: qemu's guestfwd runs socat
// for each connection, so the traffic stays on loopback and the guest's
// user network stays restricted to the forwards.
type GuestForward struct {
	GuestPort, HostPort int
}

// GuestForwardAddr is the address in the guests' user network where the
// GuestForwards answer.
const GuestForwardAddr = "10.0.2.100"

// DRBDModule names a DRBD module set of the lab's initramfs.
type DRBDModule string

// The DRBD module sets; the value is the guest's lab.drbd parameter.
const (
	DRBD9  DRBDModule = "9"
	DRBD84 DRBDModule = "8.4"
)

// Defaults of Options.
const (
	// DefaultMemoryMiB: 256 MiB is the measured floor without our binary;
	// the static piraeusctl (~50 MB) lives in the initramfs too. With DRBD 9
	// and two resources up, a 384 MiB guest has ~160 MiB free.
	DefaultMemoryMiB = 384
	DefaultDiskMiB   = 384
)

// Cluster is a set of VMs linked pairwise, with a cluster CA whose
// certificates the agents are started with.
type Cluster struct {
	VMs []*VM
	CA  *testpki.CA
	t   testing.TB
	// ports hands out the host ports of the VMs' links and forwards.
	ports *freeport.Picker
}

// Boot starts opts.VMs guests and waits until each answers. The VMs are
// always stopped at the end of the test, and on failure each console is
// written to the test log.
func Boot(t testing.TB, art Artefacts, opts Options) *Cluster {
	t.Helper()
	if opts.MemoryMiB == 0 {
		opts.MemoryMiB = DefaultMemoryMiB
	}
	if opts.DiskMiB == 0 {
		opts.DiskMiB = DefaultDiskMiB
	}
	if opts.BootTimeout == 0 {
		opts.BootTimeout = 6 * time.Minute
	}
	if opts.DRBD == "" {
		opts.DRBD = DRBD9
	}
	if len(opts.GuestForwards) > 0 {
		_, err := exec.LookPath("socat")
		require.NoError(t, err, "guest forwards need socat on the host (hack/lab/lab.sh ensure installs it)")
	}
	if opts.Ports == nil {
		ports, err := freeport.New()
		require.NoError(t, err)
		opts.Ports = ports
	}
	c := &Cluster{CA: testpki.NewCA(t, "lab-cluster-ca"), t: t, ports: opts.Ports}
	for i := range opts.VMs {
		vm, err := newVM(t.TempDir(), i, art, opts)
		require.NoError(t, err)
		c.VMs = append(c.VMs, vm)
	}
	require.NoError(t, c.wire())
	t.Cleanup(c.stop)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), opts.BootTimeout)
	defer cancel()
	// Listeners first: VM j listens for every i < j, so boot from the end.
	for i := len(c.VMs) - 1; i >= 0; i-- {
		require.NoError(t, c.startVM(ctx, c.VMs[i]))
	}
	for _, vm := range c.VMs {
		require.NoError(t, vm.Ready(ctx))
	}
	t.Logf("lab: %d VM(s) booted in %s", len(c.VMs), time.Since(start).Round(100*time.Millisecond))
	return c
}

func newVM(dir string, i int, art Artefacts, opts Options) (*VM, error) {
	token, err := newToken()
	if err != nil {
		return nil, err
	}
	vm := &VM{
		Name: fmt.Sprintf("node-%c", 'a'+i), Addr: fmt.Sprintf("192.168.77.%d", i+1), Disk: "/dev/vda",
		index: i, art: art, memMiB: opts.MemoryMiB, drbd: opts.DRBD, dir: dir, token: token, guestFwds: opts.GuestForwards,
		client: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}},
	}
	if vm.ctlPort, err = opts.Ports.Pick(); err != nil {
		return nil, err
	}
	if vm.agentPort, err = opts.Ports.Pick(); err != nil {
		return nil, err
	}
	vm.hostFwds = map[int]int{}
	for _, guest := range opts.HostForwards {
		if guest == guestCtlPort || guest == guestAgentPort {
			return nil, fmt.Errorf("host forward of guest port %d: the lab forwards it already", guest)
		}
		if vm.hostFwds[guest], err = opts.Ports.Pick(); err != nil {
			return nil, err
		}
	}
	// A fresh sparse disk per VM: LVM must never find stale metadata.
	img := filepath.Join(dir, "disk.img")
	f, err := os.Create(img)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := f.Truncate(int64(opts.DiskMiB) << 20); err != nil {
		return nil, fmt.Errorf("create %s: %w", img, err)
	}
	vm.hostDisk = img
	return vm, nil
}

// wire gives every pair of VMs one socket link.
func (c *Cluster) wire() error {
	for i, a := range c.VMs {
		for _, b := range c.VMs[i+1:] {
			port, err := c.ports.Pick()
			if err != nil {
				return err
			}
			a.links = append(a.links, link{mac: a.mac(0x77, b.index), peerAddr: b.Addr, port: port})
			b.links = append(b.links, link{mac: b.mac(0x77, a.index), peerAddr: a.Addr, port: port, listen: true})
		}
	}
	return nil
}

// startVM starts vm once the peers it connects to listen.
func (c *Cluster) startVM(ctx context.Context, vm *VM) error {
	for _, l := range vm.links {
		if l.listen {
			continue
		}
		for !listening(l.port) {
			select {
			case <-ctx.Done():
				return fmt.Errorf("vm %s: peer link on port %d never listened: %w", vm.Name, l.port, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return vm.Start()
}

// Restart boots a stopped VM again with the same disk and waits for it.
func (c *Cluster) Restart(ctx context.Context, vm *VM) error {
	if err := c.startVM(ctx, vm); err != nil {
		return err
	}
	return vm.Ready(ctx)
}

func (c *Cluster) stop() {
	if c.t.Failed() {
		for _, vm := range c.VMs {
			c.t.Logf("==== DRBD on %s ====\n%s", vm.Name, vm.drbdState())
		}
	}
	for _, vm := range c.VMs {
		vm.Stop()
	}
	if !c.t.Failed() {
		return
	}
	for _, vm := range c.VMs {
		c.t.Logf("==== console of %s (%s) ====\n%s", vm.Name, vm.ConsolePath(), lastLines(vm.Console(), 600))
	}
}

// drbdState is what DRBD says about all resources of a running VM, for
// the log of a failed test.
func (vm *VM) drbdState() string {
	if !vm.Running() {
		return "(not running)"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := vm.Shell(ctx, "drbdsetup status --verbose --statistics 2>&1")
	if err != nil {
		return fmt.Sprintf("%s(%v)", out, err)
	}
	return out
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("[… %d earlier lines]", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}
