// Package localup runs the whole datastore on one machine: the real
// kube-apiserver, the plan of a local cluster applied to it, and each
// component as a local process of the piraeusctl binary (a node agent per
// local node with a FILE_THIN pool on a loop-backed folder, the controller,
// the operator with its webhook and converge loop, the CSI driver's
// controller service and a node service per node). hack/local-up.sh runs it
// for people; integration tests run it in-process. One way to run the datastore locally, for both.
package localup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"k8s.io/client-go/rest"

	"github.com/piraeusctl/piraeusctl/agent/storage"
	"github.com/piraeusctl/piraeusctl/hostexec"
	"github.com/piraeusctl/piraeusctl/internal/freeport"
	"github.com/piraeusctl/piraeusctl/internal/kubetest"
	"github.com/piraeusctl/piraeusctl/plan"
)

// Options configure Up.
type Options struct {
	// Dir holds everything local-up creates; Down removes it.
	Dir string
	// Binary is the piraeusctl binary to run.
	Binary string
	// Nodes is the number of local nodes (default 3).
	Nodes int
	// PoolBytes is the size of each node's loop-backed pool (default 2 GiB, sparse).
	PoolBytes int64
	// NoController leaves the controller out (tests that run their own).
	NoController bool
	// Controllers is how many controllers run (default 1); they are named
	// linstor-controller, linstor-controller-2, ...
	Controllers int
	// ControllerArgs are extra flags of the controller.
	ControllerArgs []string
	// Converge runs the operator's converge loop too (hack/local-up.sh
	// does); without it the operator is the webhook only, for tests that
	// drive the cluster themselves or run their own loop.
	Converge bool
	// OperatorArgs are extra flags of the operator (e.g. --resync).
	OperatorArgs []string
	// NoCSI leaves the CSI driver out (it needs the controller's API).
	NoCSI bool
	// Addons run once every component is up, before the env file is
	// written (internal/k8spath: the Kubernetes side of the CSI driver);
	// what each returns is added to the env file.
	Addons []func(context.Context, *Env) (string, error)
	Logger *slog.Logger
}

// Node is one local node.
type Node struct {
	Name string
	// Address is its replication address (a loopback address of its own).
	Address string
	// AgentAddress is where its agent listens (host:port).
	AgentAddress string
	// PoolDir is the FILE_THIN pool's folder, on a loop-backed ext4.
	PoolDir string
	// Loop is the loop device backing PoolDir.
	Loop string
	// TLSDir holds the agent's certificate.
	TLSDir string
	// CSIEndpoint is the node's CSI node service (unix://...).
	CSIEndpoint string
}

// Env is a running local datastore.
type Env struct {
	opts  Options
	log   *slog.Logger
	Dir   string
	Nodes []Node
	// Kubeconfig is an admin kubeconfig of the API server.
	Kubeconfig string
	// Config is the same as a rest.Config.
	Config *rest.Config
	// ControllerTLSDir is the controller's client certificate for the agents.
	ControllerTLSDir string
	// ControllerHealth and ControllerMetrics are the controller's endpoints.
	ControllerHealth, ControllerMetrics string
	// LinstorAPI is the first controller's LINSTOR REST API (http://host:port).
	LinstorAPI string
	// CSIControllerEndpoint is the CSI controller service (unix://...).
	CSIControllerEndpoint string

	kube      *kubetest.Env
	ports     *freeport.Picker // every port a component is told to bind
	mu        sync.Mutex
	procs     map[string]*proc
	readyAddr map[string]string // component: host:port or http:// URL that answers once it is up
	mounts    []string
	loops     []string
	onDown    []func()
	addonEnv  []string
}

// OnDown registers f to run first when Down stops the datastore (an addon
// that must finish while the components still run).
func (e *Env) OnDown(f func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.onDown = append(e.onDown, f)
}

// Namespace is where the datastore's objects live.
const Namespace = plan.DefaultNamespace

// Up starts the local datastore. On error, what was started is stopped again.
func Up(ctx context.Context, opts Options) (env *Env, err error) {
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	if opts.PoolBytes == 0 {
		opts.PoolBytes = 2 << 30
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Binary == "" || opts.Dir == "" {
		return nil, errors.New("localup: Binary and Dir are required")
	}
	ports, err := freeport.New()
	if err != nil {
		return nil, err
	}
	e := &Env{opts: opts, log: opts.Logger, Dir: opts.Dir, ports: ports, procs: map[string]*proc{}, readyAddr: map[string]string{}}
	defer func() {
		if err != nil {
			e.Down()
		}
	}()
	steps := []struct {
		what string
		run  func(context.Context) error
	}{
		{"prepare " + e.Dir, e.prepare},
		{"start etcd and kube-apiserver", e.startAPIServer},
		{"create loop-backed pools", e.createPools},
		{"apply the plan", e.applyPlan},
		{"run gencert once (webhook and internal TLS Secrets)", e.runGencert},
		{"start the webhook", e.startWebhook},
		{"mount the internal TLS Secrets", e.mountInternalTLS},
		{"start the agents", e.startAgents},
		{"start the controller", e.startController},
		{"start the operator's converge loop", e.startConverge},
		{"start the CSI driver (controller service, a node service per node)", e.startCSI},
		{"start the addons", e.startAddons},
		{"write " + e.EnvFile(), e.writeEnvFile},
	}
	for _, s := range steps {
		e.log.Info(s.what)
		if err := s.run(ctx); err != nil {
			return nil, fmt.Errorf("local-up: %s: %w", s.what, err)
		}
	}
	return e, nil
}

func (e *Env) startAddons(ctx context.Context) error {
	for _, a := range e.opts.Addons {
		lines, err := a(ctx, e)
		if err != nil {
			return err
		}
		e.addonEnv = append(e.addonEnv, lines)
	}
	return nil
}

// SpecDir holds the local cluster's inputs.
func (e *Env) SpecDir() string { return filepath.Join(e.Dir, "spec") }

// EnvFile holds `export NAME=value` lines for a shell.
func (e *Env) EnvFile() string { return filepath.Join(e.Dir, "env") }

func (e *Env) prepare(context.Context) error {
	if err := os.MkdirAll(e.Dir, 0o755); err != nil {
		return err
	}
	for i := range e.opts.Nodes {
		name := fmt.Sprintf("local-%d", i+1)
		port, err := e.ports.Pick()
		if err != nil {
			return err
		}
		e.Nodes = append(e.Nodes, Node{
			Name:         name,
			Address:      nodeAddress(i),
			AgentAddress: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
			PoolDir:      filepath.Join(e.Dir, "nodes", name, "pool"),
			TLSDir:       filepath.Join(e.Dir, "tls", name),
		})
	}
	e.ControllerTLSDir = filepath.Join(e.Dir, "tls", "linstor-controller")
	return nil
}

func (e *Env) startAPIServer(context.Context) error {
	k, err := kubetest.Launch()
	if err != nil {
		return err
	}
	e.kube = k
	e.Config = k.RESTConfig()
	data, err := os.ReadFile(k.KubeconfigPath())
	if err != nil {
		return err
	}
	e.Kubeconfig = filepath.Join(e.Dir, "kubeconfig")
	return os.WriteFile(e.Kubeconfig, data, 0o600)
}

// createPools makes each node's pool folder a mounted ext4 on a loop device.
func (e *Env) createPools(ctx context.Context) error {
	for i := range e.Nodes {
		n := &e.Nodes[i]
		img := filepath.Join(e.Dir, "nodes", n.Name, "pool.img")
		if err := os.MkdirAll(n.PoolDir, 0o755); err != nil {
			return err
		}
		f, err := os.Create(img)
		if err != nil {
			return err
		}
		err = f.Truncate(e.opts.PoolBytes)
		f.Close()
		if err != nil {
			return err
		}
		out, err := exec.CommandContext(ctx, "losetup", "--find", "--show", img).Output()
		if err != nil {
			return fmt.Errorf("losetup %s: %w", img, exitErr(err))
		}
		n.Loop = string(trimNewline(out))
		e.loops = append(e.loops, n.Loop)
		if out, err := exec.CommandContext(ctx, "mkfs.ext4", "-q", "-F", n.Loop).CombinedOutput(); err != nil {
			return fmt.Errorf("mkfs.ext4 %s: %w: %s", n.Loop, err, out)
		}
		if out, err := exec.CommandContext(ctx, "mount", n.Loop, n.PoolDir).CombinedOutput(); err != nil {
			return fmt.Errorf("mount %s: %w: %s", n.Loop, err, out)
		}
		e.mounts = append(e.mounts, n.PoolDir)
	}
	return nil
}

// Down stops every component, unmounts and detaches the pools, stops the API
// server and removes Dir. It is safe to call more than once.
func (e *Env) Down() {
	e.mu.Lock()
	hooks := e.onDown
	e.onDown = nil
	e.mu.Unlock()
	for i := len(hooks) - 1; i >= 0; i-- {
		hooks[i]()
	}
	e.mu.Lock()
	procs := make([]*proc, 0, len(e.procs))
	for _, p := range e.procs {
		procs = append(procs, p)
	}
	e.procs = map[string]*proc{}
	e.mu.Unlock()
	for _, p := range procs {
		p.stop(10 * time.Second)
	}
	// The agents' volumes, before their folders are unmounted.
	if err := storage.DetachLoopsUnder(context.Background(), &hostexec.Local{}, e.Dir); err != nil {
		e.log.Warn("detach loop devices", "err", err)
	}
	for i := len(e.mounts) - 1; i >= 0; i-- {
		if out, err := exec.Command("umount", e.mounts[i]).CombinedOutput(); err != nil {
			e.log.Warn("umount", "path", e.mounts[i], "err", err, "out", string(out))
		}
	}
	e.mounts = nil
	for _, l := range e.loops {
		_ = exec.Command("losetup", "-d", l).Run()
	}
	e.loops = nil
	if e.kube != nil {
		e.kube.Stop()
		e.kube = nil
	}
	if e.Dir != "" {
		if err := os.RemoveAll(e.Dir); err != nil {
			e.log.Warn("remove", "dir", e.Dir, "err", err)
		}
	}
}
