package localup

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// proc is one component run as a local process.
type proc struct {
	name string
	// binary is what runs: the piraeusctl binary, or a tool such as a CSI sidecar.
	binary string
	args   []string
	log    string
	cmd    *exec.Cmd
	// exited is closed when the process has ended; err is then its exit.
	exited chan struct{}
	err    error
}

// start runs the process with its output in logs/<name>.log. It dies with
// the process that started it (Pdeathsig), so nothing outlives local-up.
func (e *Env) start(name string, args ...string) (*proc, error) {
	return e.startBinary(name, e.opts.Binary, args...)
}

// StartProcess runs another program beside the datastore (a CSI sidecar,
// kube-controller-manager) the way local-up runs its components: output in
// logs/<name>.log, stopped by Down, killed with the process that started it.
// ready, when set, is a host:port that answers once the program is up.
func (e *Env) StartProcess(ctx context.Context, name, binary, ready string, args ...string) error {
	if ready != "" {
		e.mu.Lock()
		e.readyAddr[name] = ready
		e.mu.Unlock()
	}
	p, err := e.startBinary(name, binary, args...)
	if err != nil {
		return err
	}
	return e.waitReady(ctx, p)
}

// LogPath is where a component started by local-up writes its output.
func (e *Env) LogPath(name string) string { return filepath.Join(e.Dir, "logs", name+".log") }

func (e *Env) startBinary(name, binary string, args ...string) (*proc, error) {
	logPath := e.LogPath(name)
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, binary: binary, args: args, log: logPath, cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	e.mu.Lock()
	e.procs[name] = p
	e.mu.Unlock()
	e.log.Info("started", "component", name, "pid", cmd.Process.Pid, "log", logPath)
	return p, nil
}

// stop ends a process: SIGTERM, then SIGKILL after grace.
func (p *proc) stop(grace time.Duration) {
	if p == nil || p.cmd.Process == nil {
		return
	}
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(grace):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
}

// Kill ends a component at once (kill -9), as a crash would.
func (e *Env) Kill(name string) error {
	e.mu.Lock()
	p := e.procs[name]
	e.mu.Unlock()
	if p == nil {
		return fmt.Errorf("no component %q", name)
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.exited
	e.log.Info("killed", "component", name)
	return nil
}

// Restart starts a component again with the arguments it had.
func (e *Env) Restart(ctx context.Context, name string) error {
	e.mu.Lock()
	p := e.procs[name]
	e.mu.Unlock()
	if p == nil {
		return fmt.Errorf("no component %q", name)
	}
	p.stop(10 * time.Second)
	np, err := e.startBinary(name, p.binary, p.args...)
	if err != nil {
		return err
	}
	return e.waitReady(ctx, np)
}

// waitReady waits until a component answers at the readiness address
// registered for it (see answers); without one, a short settle time.
func (e *Env) waitReady(ctx context.Context, p *proc) error {
	e.mu.Lock()
	addr := e.readyAddr[p.name]
	e.mu.Unlock()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited: %v; last lines of its log:\n%s", p.name, p.err, tail(p.log, 20))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if addr == "" {
			return nil
		}
		if answers(ctx, addr) {
			return nil
		}
	}
	return errors.New(p.name + " did not answer on " + addr + " within 60s (log: " + p.log + ")")
}

// answers reports whether a readiness address answers: an http:// URL
// with 200 OK (a component's /readyz), a host:port by accepting a
// connection.
func answers(ctx context.Context, addr string) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if !strings.HasPrefix(addr, "http://") {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, addr, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
