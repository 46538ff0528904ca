package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"google.golang.org/protobuf/proto"

	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
	"github.com/piraeusctl/piraeusctl/hostexec"
)

// DefaultConfigDir holds the DRBD resource files the agent writes.
const DefaultConfigDir = "/var/lib/piraeusctl/drbd.d"

// Config is what an Agent needs.
type Config struct {
	// NodeName is the Kubernetes node name; desired states for other nodes
	// are refused, and DRBD commands see it as the host name.
	NodeName string
	// ConfigDir holds one DRBD resource file per resource.
	ConfigDir string
	// Exec runs host commands.
	Exec hostexec.Executor
	// ProcDRBD is read for the kernel's DRBD version (8.4 gets 8.4 syntax
	// and commands); empty means DefaultProcDRBD.
	ProcDRBD string
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// Agent converges one node. Apply and DeleteResource are serialised.
type Agent struct {
	cfg Config
	log *slog.Logger

	mu sync.Mutex // serialises host changes

	stateMu sync.Mutex
	desired *agentv1.NodeDesiredState // last applied, for status only
	changed chan struct{}             // closed and replaced after each change
	// snapErrors: snapshot key → why the last Apply could not take it.
	snapErrors map[string]string
}

// New returns an Agent.
func New(cfg Config) (*Agent, error) {
	if cfg.NodeName == "" {
		return nil, errors.New("agent: node name is required (--node-name or NODE_NAME)")
	}
	if cfg.Exec == nil {
		return nil, errors.New("agent: no executor")
	}
	if cfg.ConfigDir == "" {
		cfg.ConfigDir = DefaultConfigDir
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Agent{cfg: cfg, log: log.With("node", cfg.NodeName), changed: make(chan struct{})}, nil
}

// NodeName returns the node the agent serves.
func (a *Agent) NodeName() string { return a.cfg.NodeName }

// InvalidError marks a request that cannot be applied as given.
type InvalidError struct{ Err error }

func (e *InvalidError) Error() string { return e.Err.Error() }
func (e *InvalidError) Unwrap() error { return e.Err }

// ConflictError marks a request refused for safety (e.g. a uid mismatch).
type ConflictError struct{ Err error }

func (e *ConflictError) Error() string { return e.Err.Error() }
func (e *ConflictError) Unwrap() error { return e.Err }

func invalid(format string, args ...any) error {
	return &InvalidError{Err: fmt.Errorf(format, args...)}
}

// counting wraps the executor for one call and counts what it ran.
type counting struct {
	next            hostexec.Executor
	total, mutating uint32
}

func (c *counting) Run(ctx context.Context, cmd hostexec.Cmd) (hostexec.Result, error) {
	c.total++
	if cmd.Mutating {
		c.mutating++
	}
	return c.next.Run(ctx, cmd)
}

// remember keeps the last desired state for status and wakes watchers.
func (a *Agent) remember(d *agentv1.NodeDesiredState) {
	a.stateMu.Lock()
	defer a.stateMu.Unlock()
	if d != nil {
		a.desired = proto.Clone(d).(*agentv1.NodeDesiredState)
	}
	close(a.changed)
	a.changed = make(chan struct{})
}

func (a *Agent) lastDesired() (*agentv1.NodeDesiredState, <-chan struct{}) {
	a.stateMu.Lock()
	defer a.stateMu.Unlock()
	return a.desired, a.changed
}

// writeFileAtomic replaces path with data.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	return nil
}
