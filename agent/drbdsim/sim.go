package drbdsim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/piraeusctl/piraeusctl/hostexec"
)

// DefaultVersion is the DRBD version the simulated kernel reports (the
// version the qemu lab builds; see /work/shared/notes/drbd9-lab.md).
const DefaultVersion = "9.2.18"

// Config is what a Sim needs.
type Config struct {
	// Dir is the state directory shared by all simulated nodes.
	Dir string
	// Node is the node whose kernel this Sim is (the Kubernetes node name).
	Node string
	// Next runs every command that is not drbdadm, drbdsetup or drbdmeta,
	// and the simulated kernel's own reads of its backing devices
	// (`blockdev --getsize64`).
	Next hostexec.Executor
	// Drbdadm runs the real drbdadm (in dry-run mode); nil means Next, and
	// then drbdadm must be installed.
	Drbdadm hostexec.Executor
	// ResyncTime is how long a full resync takes; zero means instantly.
	ResyncTime time.Duration
	// Version is the DRBD version reported; empty means DefaultVersion.
	Version string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives one debug record per simulated command; nil means slog.Default().
	Logger *slog.Logger
}

// Sim is a simulated DRBD 9 kernel module of one node, driven through the
// hostexec.Executor interface. It is safe for concurrent use, also by
// several processes sharing Dir.
type Sim struct {
	cfg   Config
	store store
	log   *slog.Logger

	replays replayCache

	mu         sync.Mutex
	transcript []Entry
}

// Entry is one DRBD command the simulator ran, for the transcript.
type Entry struct {
	Cmd hostexec.Cmd
	// DryRun is what the real drbdadm printed for a drbdadm command.
	DryRun string
	// Kernel are the drbdsetup and drbdmeta commands the simulated kernel
	// ran for a drbdadm command: drbdadm's own, or for adjust the
	// difference the simulator planned.
	Kernel   []hostexec.Cmd
	ExitCode int
}

// New returns the Sim of cfg.Node and writes the simulated /proc/drbd.
func New(cfg Config) (*Sim, error) {
	switch {
	case cfg.Dir == "":
		return nil, errors.New("drbdsim: no state directory")
	case !nodeName.MatchString(cfg.Node):
		return nil, fmt.Errorf("drbdsim: node name %q is not a host name", cfg.Node)
	case cfg.Next == nil:
		return nil, errors.New("drbdsim: no next executor")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("drbdsim: %w", err)
	}
	cfg.Dir = dir
	if cfg.Drbdadm == nil {
		if _, err := exec.LookPath("drbdadm"); err != nil {
			return nil, fmt.Errorf("drbdsim: every drbdadm command is checked by the real drbdadm, which is missing (install drbd-utils: hack/install-deps.sh drbd-utils): %w", err)
		}
		cfg.Drbdadm = cfg.Next
	}
	if cfg.Version == "" {
		cfg.Version = DefaultVersion
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Sim{cfg: cfg, store: store{dir: cfg.Dir}, log: log.With("drbdsim", cfg.Node)}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "resources"), 0o755); err != nil {
		return nil, fmt.Errorf("drbdsim: %w", err)
	}
	if err := writeAtomic(s.ProcDRBD(), []byte(s.procDRBD())); err != nil {
		return nil, err
	}
	return s, nil
}

// ProcDRBD is the path of the simulated /proc/drbd (for the agent's
// version detection).
func (s *Sim) ProcDRBD() string { return filepath.Join(s.cfg.Dir, "proc_drbd") }

func (s *Sim) procDRBD() string {
	return fmt.Sprintf("version: %s (api:2/proto:118-124)\nGIT-hash: 0000000000000000000000000000000000000000 build by piraeusctl drbdsim\nTransports (api:21): tcp (%s)\n",
		s.cfg.Version, s.cfg.Version)
}

// Run implements hostexec.Executor.
func (s *Sim) Run(ctx context.Context, cmd hostexec.Cmd) (hostexec.Result, error) {
	var (
		e   = Entry{Cmd: cmd}
		out outcome
		err error
	)
	switch cmd.Name {
	case "drbdadm":
		out, err = s.drbdadm(ctx, cmd, &e)
	case "drbdsetup":
		out, err = s.setup(ctx, cmd.Args)
	case "drbdmeta":
		out, err = s.meta(ctx, cmd.Args, nil)
	default:
		return s.cfg.Next.Run(ctx, cmd)
	}
	if err != nil {
		return hostexec.Result{}, err
	}
	res := hostexec.Result{Stdout: []byte(out.stdout), Stderr: []byte(out.stderr)}
	if out.fail != nil {
		res.Stderr = append(res.Stderr, out.fail.stderr...)
		res.ExitCode = out.fail.exit
	}
	e.ExitCode = res.ExitCode
	s.record(ctx, e)
	if res.ExitCode != 0 {
		return res, &hostexec.ExitError{Cmd: cmd, ExitCode: res.ExitCode, Stderr: string(res.Stderr)}
	}
	return res, nil
}

// outcome is what a simulated command printed, and its failure if any.
type outcome struct {
	stdout, stderr string
	fail           *failure
}

func failed(f *failure) outcome { return outcome{fail: f} }

func (s *Sim) record(ctx context.Context, e Entry) {
	s.mu.Lock()
	s.transcript = append(s.transcript, e)
	s.mu.Unlock()
	if !s.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	kernel := make([]string, 0, len(e.Kernel))
	for _, k := range e.Kernel {
		kernel = append(kernel, k.Line())
	}
	s.log.DebugContext(ctx, "simulated DRBD command", "cmd", e.Cmd.String(), "mutating", e.Cmd.Mutating,
		"exit", e.ExitCode, "kernel", kernel)
}

// Transcript returns the DRBD commands run so far.
func (s *Sim) Transcript() []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Entry(nil), s.transcript...)
}

// Reset forgets the transcript.
func (s *Sim) Reset() {
	s.mu.Lock()
	s.transcript = nil
	s.mu.Unlock()
}

// FormatTranscript renders entries as hostexec.FormatLog does, each
// drbdadm command followed by the kernel commands it became, indented,
// and failures by their exit code.
func FormatTranscript(entries []Entry) string {
	var b strings.Builder
	for _, e := range entries {
		b.WriteString(hostexec.FormatLog([]hostexec.Cmd{e.Cmd}))
		for _, k := range e.Kernel {
			b.WriteString("         " + k.Line() + "\n")
		}
		if e.ExitCode != 0 {
			fmt.Fprintf(&b, "         exit %d\n", e.ExitCode)
		}
	}
	return b.String()
}
