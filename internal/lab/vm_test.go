package lab

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/internal/freeport"
)

// TestQemuArgsOnlyLoopback: every socket qemu opens on the host (links
// between VMs, forwards to the guests) is on 127.0.0.1, and the user-mode
// network is restricted (the guest reaches nothing outside).
func TestQemuArgsOnlyLoopback(t *testing.T) {
	ports, err := freeport.New()
	require.NoError(t, err)
	c := &Cluster{t: t, ports: ports}
	for i := range 3 {
		vm, err := newVM(t.TempDir(), i, Artefacts{Kernel: "vmlinuz", Initrd: "initrd.cpio"}, Options{MemoryMiB: 320, DiskMiB: 8, DRBD: DRBD9,
			HostForwards: []int{10000}, Ports: ports})
		require.NoError(t, err)
		c.VMs = append(c.VMs, vm)
	}
	require.NoError(t, c.wire())
	for _, vm := range c.VMs {
		args := vm.qemuArgs()
		line := strings.Join(args, " ")
		assert.Len(t, vm.links, 2, "%s: %d links, want one to each of the 2 other VMs", vm.Name, len(vm.links))
		for _, a := range args {
			for _, opt := range strings.Split(a, ",") {
				for _, key := range []string{"listen=", "connect=", "hostfwd=tcp:"} {
					v, ok := strings.CutPrefix(opt, key)
					assert.False(t, ok && !strings.HasPrefix(v, "127.0.0.1:"), "%s: %s%s is not on 127.0.0.1", vm.Name, key, v)
				}
			}
		}
		assert.Contains(t, line, "user,id=ctl,restrict=on,", "%s: user-mode network not restricted: %s", vm.Name, line)
		fwd := vm.ForwardedAddr(10000)
		assert.Contains(t, line, ",hostfwd=tcp:"+fwd+"-:10000", "%s: host forward of guest port 10000 missing in %s", vm.Name, line)
		assert.Empty(t, vm.ForwardedAddr(10001), "%s: a port not forwarded has an address", vm.Name)
		for _, want := range []string{"-m 320", "-accel tcg,tb-size=64", "lab.host=" + vm.Name, "if=virtio,format=raw",
			"lab.drbd=9 ", "no_timer_check", "-qmp unix:" + vm.qmpPath() + ","} {
			assert.Contains(t, line, want, "%s: %q missing in %s", vm.Name, want, line)
		}
	}
	// Links: the higher-numbered VM listens, so the lower one can reboot.
	for _, l := range c.VMs[0].links {
		assert.False(t, l.listen, "node-a listens on a link; it must connect (it is the one power-cut in the failure scenario)")
	}
}

func TestLastLines(t *testing.T) {
	got := lastLines("a\nb\nc", 2)
	assert.Equal(t, "[… 1 earlier lines]\nb\nc", got, "lastLines = %q", got)
	got = lastLines("a", 2)
	assert.Equal(t, "a", got, "lastLines = %q", got)
}
