package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/piraeusctl/piraeusctl/internal/lab/guestapi"
)

const qemuBinary = "qemu-system-x86_64"

// Guest ports forwarded to 127.0.0.1 on the host.
const (
	guestCtlPort   = 2222
	guestAgentPort = 3366
)

// VM is one lab guest. Its disk outlives Stop, so Start boots the same
// machine again (as after a power cut).
type VM struct {
	// Name is the guest's host name (the Kubernetes node name).
	Name string
	// Addr is the guest's address on its links to the other VMs.
	Addr string
	// Disk is the raw virtio disk as the guest sees it.
	Disk string

	hostDisk string

	index     int
	art       Artefacts
	memMiB    int
	drbd      DRBDModule
	dir       string
	token     string
	ctlPort   int
	agentPort int
	links     []link
	guestFwds []GuestForward
	hostFwds  map[int]int // guest port → host port of Options.HostForwards
	client    *http.Client
	agentConn

	mu   sync.Mutex
	proc *exec.Cmd
	done chan struct{} // closed when proc exits
}

// link is one socket netdev between two VMs.
type link struct {
	mac, peerAddr string
	port          int
	listen        bool
}

// AgentAddr is the host address (127.0.0.1:port) of the guest's agent.
func (vm *VM) AgentAddr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(vm.agentPort)) }

// ForwardedAddr is the host address (127.0.0.1:port) that reaches the
// guest's TCP port guestPort, one of Options.HostForwards; "" for a port
// not forwarded.
func (vm *VM) ForwardedAddr(guestPort int) string {
	p, ok := vm.hostFwds[guestPort]
	if !ok {
		return ""
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
}

// ConsolePath is the file the guest's serial console is written to.
func (vm *VM) ConsolePath() string { return filepath.Join(vm.dir, "console.log") }

// Console returns what the guest printed so far.
func (vm *VM) Console() string {
	b, _ := os.ReadFile(vm.ConsolePath())
	return string(b)
}

func (vm *VM) mac(kind, n int) string {
	return fmt.Sprintf("52:54:00:%02x:%02x:%02x", kind, vm.index+1, n)
}

func (vm *VM) qemuArgs() []string {
	var linkParam []string
	for _, l := range vm.links {
		linkParam = append(linkParam, l.mac+","+vm.Addr+","+l.peerAddr)
	}
	ctlMAC := vm.mac(0x99, 0)
	// no_timer_check: under a loaded host, TCG can be too slow for the
	// kernel's early IO-APIC timer check, which then panics ("IO-APIC +
	// timer doesn't work"); VMs skip that check.
	appendLine := fmt.Sprintf("console=ttyS0 quiet panic=-1 no_timer_check lab.host=%s lab.token=%s lab.ctl=%s lab.drbd=%s lab.link=%s",
		vm.Name, vm.token, ctlMAC, vm.drbd, strings.Join(linkParam, ";"))
	args := []string{
		"-machine", "q35", "-accel", "tcg,tb-size=64", "-cpu", "max", "-smp", "1",
		"-m", strconv.Itoa(vm.memMiB), "-display", "none", "-no-reboot", "-nodefaults",
		"-chardev", "file,id=con,append=on,path=" + vm.ConsolePath(), "-serial", "chardev:con",
		"-kernel", vm.art.Kernel, "-initrd", vm.art.Initrd, "-append", appendLine,
		"-drive", "file=" + vm.hostDisk + ",if=virtio,format=raw,cache=unsafe",
		// QMP on a unix socket in the VM's folder: SetLinks cuts the cables.
		"-qmp", "unix:" + vm.qmpPath() + ",server=on,wait=off",
		"-netdev", fmt.Sprintf("user,id=ctl,restrict=on,hostfwd=tcp:127.0.0.1:%d-:%d,hostfwd=tcp:127.0.0.1:%d-:%d",
			vm.ctlPort, guestCtlPort, vm.agentPort, guestAgentPort) + vm.hostFwdParams() + vm.guestFwdParams(),
		"-device", "virtio-net-pci,netdev=ctl,mac=" + ctlMAC,
	}
	for i, l := range vm.links {
		mode := "connect"
		if l.listen {
			mode = "listen"
		}
		id := linkID(i)
		args = append(args, "-netdev", fmt.Sprintf("socket,id=%s,%s=127.0.0.1:%d", id, mode, l.port),
			"-device", "virtio-net-pci,netdev="+id+",mac="+l.mac)
	}
	return args
}

// hostFwdParams are the user netdev's hostfwd rules of vm.hostFwds, in
// guest port order (the command line stays the same from boot to boot).
func (vm *VM) hostFwdParams() string {
	var b strings.Builder
	for _, guest := range slices.Sorted(maps.Keys(vm.hostFwds)) {
		fmt.Fprintf(&b, ",hostfwd=tcp:127.0.0.1:%d-:%d", vm.hostFwds[guest], guest)
	}
	return b.String()
}

// guestFwdParams are the user netdev's guestfwd rules of vm.guestFwds
// (restrict=on still lets them through).
func (vm *VM) guestFwdParams() string {
	var b strings.Builder
	for _, f := range vm.guestFwds {
		fmt.Fprintf(&b, ",guestfwd=tcp:%s:%d-cmd:socat STDIO TCP:127.0.0.1:%d", GuestForwardAddr, f.GuestPort, f.HostPort)
	}
	return b.String()
}

// Start boots the VM (again) and returns once qemu runs; Ready waits for
// the guest.
func (vm *VM) Start() error {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.proc != nil {
		return fmt.Errorf("vm %s: already running", vm.Name)
	}
	// Not tied to a context: Stop (from t.Cleanup) ends it; Pdeathsig ends
	// it when the test binary dies.
	cmd := exec.Command(qemuBinary, vm.qemuArgs()...)
	out, err := os.OpenFile(filepath.Join(vm.dir, "qemu.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("vm %s: %w", vm.Name, err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("vm %s: start qemu: %w", vm.Name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	vm.proc, vm.done = cmd, done
	return nil
}

// Running reports whether qemu runs.
func (vm *VM) Running() bool {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.proc == nil {
		return false
	}
	select {
	case <-vm.done:
		return false
	default:
		return true
	}
}

// Stop kills qemu at once (a power cut for the guest) and waits for it.
func (vm *VM) Stop() {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.proc == nil {
		return
	}
	_ = vm.proc.Process.Kill()
	<-vm.done
	vm.proc, vm.done = nil, nil
}

// Ready waits until the guest answers on its command channel.
func (vm *VM) Ready(ctx context.Context) error {
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := vm.Exec(cctx, "true")
		cancel()
		if err == nil {
			return nil
		}
		if !vm.Running() {
			return fmt.Errorf("vm %s: qemu exited before the guest was ready: %s", vm.Name, vm.qemuLog())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("vm %s: not ready: %w (last: %v)", vm.Name, ctx.Err(), err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (vm *VM) qemuLog() string {
	b, _ := os.ReadFile(filepath.Join(vm.dir, "qemu.log"))
	return strings.TrimSpace(string(b))
}

// ExecError is a guest command that exited non-zero.
type ExecError struct {
	VM, Cmd        string
	ExitCode       int
	Stdout, Stderr string
}

func (e *ExecError) Error() string {
	return fmt.Sprintf("%s: %s: exit %d: %s%s", e.VM, e.Cmd, e.ExitCode, strings.TrimSpace(e.Stderr), tail(e.Stdout))
}

func tail(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	if len(s) > 1000 {
		s = "…" + s[len(s)-1000:]
	}
	return " (stdout: " + s + ")"
}

// Exec runs a command in the guest and returns its stdout; a non-zero exit
// is an *ExecError.
func (vm *VM) Exec(ctx context.Context, args ...string) (string, error) {
	return vm.ExecInput(ctx, nil, args...)
}

// Shell runs a busybox sh script in the guest.
func (vm *VM) Shell(ctx context.Context, script string) (string, error) {
	return vm.Exec(ctx, "sh", "-c", script)
}

// WriteFile writes data to path in the guest.
func (vm *VM) WriteFile(ctx context.Context, path string, data []byte) error {
	_, err := vm.ExecInput(ctx, data, "sh", "-c", `mkdir -p "$(dirname "$0")" && cat > "$0"`, path)
	return err
}

// ExecInput is Exec with stdin.
func (vm *VM) ExecInput(ctx context.Context, stdin []byte, args ...string) (string, error) {
	req := guestapi.ExecRequest{Args: args, Stdin: stdin, TimeoutMS: 4 * 60 * 1000}
	if dl, ok := ctx.Deadline(); ok {
		req.TimeoutMS = max(1, time.Until(dl).Milliseconds())
	}
	body, err := json.Marshal(req)
	if err != nil {
		return "", err
	}
	url := fmt.Sprintf("http://127.0.0.1:%d%s", vm.ctlPort, guestapi.ExecPath)
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	hreq.Header.Set(guestapi.TokenHeader, vm.token)
	resp, err := vm.client.Do(hreq)
	if err != nil {
		return "", fmt.Errorf("%s: %s: %w", vm.Name, strings.Join(args, " "), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s: labguest answered %s", vm.Name, strings.Join(args, " "), resp.Status)
	}
	var out guestapi.ExecResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return "", fmt.Errorf("%s: decode answer: %w", vm.Name, err)
	}
	if out.Error != "" {
		return string(out.Stdout), fmt.Errorf("%s: %s: %s", vm.Name, strings.Join(args, " "), out.Error)
	}
	if out.ExitCode != 0 {
		return string(out.Stdout), &ExecError{VM: vm.Name, Cmd: strings.Join(args, " "), ExitCode: out.ExitCode,
			Stdout: string(out.Stdout), Stderr: string(out.Stderr)}
	}
	return string(out.Stdout), nil
}

func newToken() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// listening reports whether some process listens on 127.0.0.1:port,
// without connecting (a qemu socket listener accepts exactly one peer).
func listening(port int) bool {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return false
	}
	want := fmt.Sprintf("0100007F:%04X", port)
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 3 && f[1] == want && f[3] == "0A" {
			return true
		}
	}
	return false
}
