// Package k8spath runs the Kubernetes side of a CSI driver on a local
// datastore (internal/localup), with real parts and no kubelet:
// kube-controller-manager (PV binding, expansion, attach/detach and the
// protection finalizers), snapshot-controller with its CRDs, the
// csi-provisioner, csi-attacher, csi-resizer and csi-snapshotter sidecars
// with the arguments the plan gives them, all built by hack/csi-sidecars.sh,
// and a small kubelet stand-in (Kubelet) that registers each node's CSI
// driver and stages, publishes, expands and tears down the volumes of Pods
// bound to a node, over that node's CSI socket, as kubelet would.
package k8spath

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/piraeusctl/piraeusctl/internal/localup"
)

// Driver is the CSI driver's name.
const Driver = "linstor.csi.linbit.com"

// Options configure Start.
type Options struct {
	// Tools is the folder of hack/csi-sidecars.sh (binaries and crd/);
	// empty: `hack/csi-sidecars.sh dir` of the repository.
	Tools string
	// ControllerEndpoint is the CSI controller service's socket
	// (unix://...); empty: the local datastore's CSI driver, with its nodes'.
	ControllerEndpoint string
	// NodeEndpoints maps each node's name to its CSI node service's socket.
	NodeEndpoints map[string]string
	Logger        *slog.Logger
}

// Path is the running Kubernetes side of the driver.
type Path struct {
	env     *localup.Env
	opts    Options
	log     *slog.Logger
	Kubelet *Kubelet
	cancel  context.CancelFunc
	done    chan struct{}
}

// Start brings up the Kubernetes side on env: CRDs, kube-controller-manager,
// snapshot-controller, the sidecars, and the kubelet stand-in, which has
// registered every node's driver (CSINode, topology labels) when Start
// returns. Stop (or env.Down) ends the processes.
func Start(ctx context.Context, env *localup.Env, opts Options) (*Path, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ControllerEndpoint == "" {
		opts.ControllerEndpoint, opts.NodeEndpoints = csiEndpoints(env)
	}
	if opts.ControllerEndpoint == "" || len(opts.NodeEndpoints) == 0 {
		return nil, errors.New("k8spath: no CSI endpoints (the local datastore runs without its CSI driver?)")
	}
	if opts.Tools == "" {
		dir, err := ToolsDir()
		if err != nil {
			return nil, err
		}
		opts.Tools = dir
	}
	p := &Path{env: env, opts: opts, log: opts.Logger}
	steps := []struct {
		what string
		run  func(context.Context) error
	}{
		{"check the tools in " + opts.Tools, p.checkTools},
		{"apply the VolumeSnapshot CRDs", p.applySnapshotCRDs},
		{"start the kubelet stand-in (CSINode, node labels)", p.startKubelet},
		{"start kube-controller-manager", p.startControllerManager},
		{"start snapshot-controller", p.startSnapshotController},
		{"start the CSI sidecars", p.startSidecars},
	}
	for _, s := range steps {
		p.log.Info(s.what)
		if err := s.run(ctx); err != nil {
			p.Stop()
			return nil, fmt.Errorf("k8spath: %s: %w", s.what, err)
		}
	}
	env.OnDown(p.Stop)
	return p, nil
}

// Addon is Start as a localup addon (hack/local-up.sh --kubernetes).
func Addon(opts Options) func(context.Context, *localup.Env) (string, error) {
	return func(ctx context.Context, env *localup.Env) (string, error) {
		p, err := Start(ctx, env, opts)
		if err != nil {
			return "", err
		}
		return p.envLines(), nil
	}
}

// envLines tell a shell where the Kubernetes side's parts are.
func (p *Path) envLines() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# kubernetes side: %s, logs %s\n", strings.Join(tools, ", "), filepath.Dir(p.env.LogPath("x")))
	fmt.Fprintf(&b, "# kubelet stand-in: volumes of Pods with spec.nodeName under %s/<node>/pods/<uid>/volumes/kubernetes.io~csi/<pv>/mount\n", p.Kubelet.Root)
	return b.String()
}

// Stop ends the kubelet stand-in; the processes end with env.Down.
func (p *Path) Stop() {
	if p.cancel != nil {
		p.cancel()
		<-p.done
		p.cancel = nil
	}
}

// Tools the Kubernetes side runs, all from hack/csi-sidecars.sh.
var tools = []string{"kube-controller-manager", "snapshot-controller", "csi-provisioner", "csi-attacher", "csi-resizer", "csi-snapshotter"}

func (p *Path) checkTools(context.Context) error {
	for _, t := range tools {
		if _, err := os.Stat(filepath.Join(p.opts.Tools, t)); err != nil {
			return fmt.Errorf("%w (run hack/csi-sidecars.sh ensure)", err)
		}
	}
	return nil
}

func (p *Path) startKubelet(ctx context.Context) error {
	cs, err := kubernetes.NewForConfig(p.env.Config)
	if err != nil {
		return err
	}
	k, err := NewKubelet(cs, filepath.Join(p.env.Dir, "kubelet"), p.opts.NodeEndpoints, p.log)
	if err != nil {
		return err
	}
	if err := k.Register(ctx); err != nil {
		k.Close()
		return err
	}
	p.Kubelet = k
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.cancel, p.done = cancel, make(chan struct{})
	// The kubelet stand-in tears down what it set up when it stops.
	go func() {
		defer close(p.done)
		defer k.Close()
		k.Run(runCtx, 200*time.Millisecond)
	}()
	return nil
}

// ToolsDir is `hack/csi-sidecars.sh dir`, found from the working folder up
// (tests run in their package's folder).
func ToolsDir() (string, error) {
	if dir := os.Getenv("PIRAEUSCTL_CSI_TOOLS"); dir != "" {
		return dir, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		script := filepath.Join(d, "hack", "csi-sidecars.sh")
		if _, err := os.Stat(script); err == nil {
			out, err := exec.Command(script, "dir").Output()
			if err != nil {
				return "", fmt.Errorf("%s dir: %w", script, err)
			}
			return strings.TrimSpace(string(out)), nil
		}
		if d == filepath.Dir(d) {
			return "", fmt.Errorf("no hack/csi-sidecars.sh above %s; set PIRAEUSCTL_CSI_TOOLS", wd)
		}
	}
}
