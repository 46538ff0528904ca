package localup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/piraeusctl/piraeusctl/render"
)

// Names the plan renders that local-up needs.
const (
	webhookSecret  = "webhook-server-cert"
	webhookService = "piraeus-operator-webhook-service"
)

// applyPlan creates the Nodes, writes the inputs and applies their plan
// with `piraeusctl apply`, as a user would.
func (e *Env) applyPlan(ctx context.Context) error {
	if err := e.createNodes(ctx); err != nil {
		return err
	}
	if err := e.writeSpec(); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(e.SpecDir(), "nodes.yaml"), []byte(e.nodesYAML()), 0o644); err != nil {
		return err
	}
	return e.run(ctx, "apply", "-f", e.SpecDir(), "--kubeconfig", e.Kubeconfig, "--wait=false")
}

// createNodes creates the local nodes in the API server with their
// addresses (there is no kubelet to report them).
func (e *Env) createNodes(ctx context.Context) error {
	cs, err := kubernetes.NewForConfig(e.Config)
	if err != nil {
		return err
	}
	var nodes []corev1.Node
	if err := decodeAll([]byte(e.nodesYAML()), func(data []byte) error {
		var n corev1.Node
		if err := yaml.UnmarshalStrict(data, &n); err != nil {
			return err
		}
		nodes = append(nodes, n)
		return nil
	}); err != nil {
		return err
	}
	for i := range nodes {
		n := nodes[i]
		status := n.Status
		created, err := cs.CoreV1().Nodes().Create(ctx, &n, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			created, err = cs.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
		}
		if err != nil {
			return fmt.Errorf("create Node %s: %w", n.Name, err)
		}
		created.Status.Addresses = status.Addresses
		created.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "LocalUp", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
		if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("Node %s status: %w", n.Name, err)
		}
	}
	return nil
}

// runGencert runs `piraeusctl gencert --once` as the cluster runs it: it
// writes the webhook's Secret and caBundle, the internal CA, the
// controller's client certificate and one Secret per satellite DaemonSet of
// the applied plan.
func (e *Env) runGencert(ctx context.Context) error {
	return e.run(ctx, "gencert", "--once", "--kubeconfig", e.Kubeconfig, "--namespace", Namespace, "--health-addr", "")
}

// mountSecret writes the Secret's keys into dir as the kubelet mounts a
// Secret volume.
func (e *Env) mountSecret(ctx context.Context, cs kubernetes.Interface, name, dir string, keys ...string) error {
	sec, err := cs.CoreV1().Secrets(Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("secret %s: %w", name, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, k := range keys {
		if err := os.WriteFile(filepath.Join(dir, k), sec.Data[k], 0o600); err != nil {
			return err
		}
	}
	return nil
}

// mountInternalTLS puts the Secrets gencert made for the controller and
// each node's satellite where the local processes read them.
func (e *Env) mountInternalTLS(ctx context.Context) error {
	cs, err := kubernetes.NewForConfig(e.Config)
	if err != nil {
		return err
	}
	keys := []string{"tls.crt", "tls.key", "ca.crt"}
	if err := e.mountSecret(ctx, cs, render.ControllerInternalTLSSecret, e.ControllerTLSDir, keys...); err != nil {
		return err
	}
	for _, n := range e.Nodes {
		if err := e.mountSecret(ctx, cs, render.SatelliteTLSSecretName(n.Name), n.TLSDir, keys...); err != nil {
			return err
		}
	}
	return nil
}

// startWebhook runs the webhook server (`piraeusctl operator`) with the
// certificate gencert made, on the webhook Service's ClusterIP, which is a
// loopback address here, then applies the user's piraeus.io inputs
// through it.
func (e *Env) startWebhook(ctx context.Context) error {
	cs, err := kubernetes.NewForConfig(e.Config)
	if err != nil {
		return err
	}
	certDir := filepath.Join(e.Dir, "webhook")
	if err := e.mountSecret(ctx, cs, webhookSecret, certDir, "tls.crt", "tls.key"); err != nil {
		return err
	}
	svc, err := cs.CoreV1().Services(Namespace).Get(ctx, webhookService, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("webhook Service: %w", err)
	}
	if ip := net.ParseIP(svc.Spec.ClusterIP); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("webhook Service ClusterIP %q is not a loopback address: the API server must run with --service-cluster-ip-range on 127.0.0.0/8", svc.Spec.ClusterIP)
	}
	addr := net.JoinHostPort(svc.Spec.ClusterIP, "443")
	health, err := e.ports.Pick()
	if err != nil {
		return err
	}
	e.readyAddr[OperatorName] = addr
	p, err := e.start(OperatorName, "operator", "--kubeconfig", e.Kubeconfig, "--cert-dir", certDir,
		"--webhook-addr", addr, "--health-addr", "127.0.0.1:"+strconv.Itoa(health), "--namespace", Namespace, "--converge=false")
	if err != nil {
		return err
	}
	if err := e.waitReady(ctx, p); err != nil {
		return err
	}
	return e.applyInputs(ctx)
}

// OperatorName is the operator's component name (Kill, Restart).
const OperatorName = "piraeus-operator"

// startConverge starts the operator again, now with its converge loop (the
// same process serves the webhook, as in the cluster), once the user's
// inputs are in the API server: from here on the local datastore is kept by
// the loop that keeps a real one.
func (e *Env) startConverge(ctx context.Context) error {
	if !e.opts.Converge {
		return nil
	}
	e.mu.Lock()
	p := e.procs[OperatorName]
	e.mu.Unlock()
	p.stop(10 * time.Second)
	args := append(append(slices.DeleteFunc(slices.Clone(p.args), func(a string) bool { return a == "--converge=false" }),
		"--converge=true"), e.opts.OperatorArgs...)
	np, err := e.start(OperatorName, args...)
	if err != nil {
		return err
	}
	return e.waitReady(ctx, np)
}

// applyInputs server-side applies the user's piraeus.io objects, so the
// cluster holds its own inputs (plan --from-cluster, the operator).
func (e *Env) applyInputs(ctx context.Context) error {
	c, err := client.New(e.Config, client.Options{})
	if err != nil {
		return err
	}
	data, err := os.ReadFile(filepath.Join(e.SpecDir(), "cluster.yaml"))
	if err != nil {
		return err
	}
	return decodeAll(data, func(doc []byte) error {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(doc, &u.Object); err != nil {
			return err
		}
		if u.GroupVersionKind().Group != "piraeus.io" {
			return nil // StorageClasses come with the plan
		}
		//nolint:staticcheck // client.Apply with an unstructured object is the supported way here.
		if err := c.Patch(ctx, u, client.Apply, client.FieldOwner("local-up"), client.ForceOwnership); err != nil {
			return fmt.Errorf("apply %s/%s: %w", u.GetKind(), u.GetName(), err)
		}
		return nil
	})
}

// startAgents runs one agent per node, on its own port, with its own
// certificate and DRBD folder. DRBD is simulated (agent/drbdsim: this
// kernel has no DRBD module): every drbdadm command still goes through the
// real drbdadm, while the storage layer runs for real.
func (e *Env) startAgents(ctx context.Context) error {
	for _, n := range e.Nodes {
		args := []string{"agent", "--node-name", n.Name, "--listen", n.AgentAddress, "--tls-dir", n.TLSDir,
			"--drbd-config-dir", filepath.Join(e.Dir, "nodes", n.Name, "drbd.d"),
			"--drbd-sim-dir", filepath.Join(e.Dir, "drbd-sim")}
		name := "agent-" + n.Name
		e.readyAddr[name] = n.AgentAddress
		p, err := e.start(name, args...)
		if err != nil {
			return err
		}
		if err := e.waitReady(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

// ControllerName is the controller's component name (Kill, Restart).
const ControllerName = "linstor-controller"

func (e *Env) startController(ctx context.Context) error {
	if e.opts.NoController {
		return nil
	}
	for i := range max(e.opts.Controllers, 1) {
		name := ControllerName
		if i > 0 {
			name = fmt.Sprintf("%s-%d", ControllerName, i+1)
		}
		if err := e.StartController(ctx, name, e.opts.ControllerArgs...); err != nil {
			return err
		}
	}
	return nil
}

// StartController runs one more controller under name with extra flags.
// The first one's endpoints are ControllerHealth and ControllerMetrics.
func (e *Env) StartController(ctx context.Context, name string, extra ...string) error {
	health, err := e.ports.Pick()
	if err != nil {
		return err
	}
	metrics, err := e.ports.Pick()
	if err != nil {
		return err
	}
	api, err := e.ports.Pick()
	if err != nil {
		return err
	}
	h, m, a := "127.0.0.1:"+strconv.Itoa(health), "127.0.0.1:"+strconv.Itoa(metrics), "127.0.0.1:"+strconv.Itoa(api)
	if e.ControllerHealth == "" {
		e.ControllerHealth, e.ControllerMetrics, e.LinstorAPI = h, m, "http://"+a
	}
	args := append([]string{"controller", "--kubeconfig", e.Kubeconfig, "--namespace", Namespace,
		"--internal-tls-dir", e.ControllerTLSDir, "--health-addr", h, "--metrics-addr", m, "--api-addr", a}, extra...)
	e.readyAddr[name] = "http://" + h + "/readyz" // caches synced, LINSTOR API listening
	p, err := e.start(name, args...)
	if err != nil {
		return err
	}
	return e.waitReady(ctx, p)
}

// writeEnvFile writes what a shell needs to use the local datastore.
func (e *Env) writeEnvFile(context.Context) error {
	var b strings.Builder
	fmt.Fprintf(&b, "export KUBECONFIG=%s\n", e.Kubeconfig)
	if e.ControllerHealth != "" {
		fmt.Fprintf(&b, "# linstor-controller: health http://%s/readyz, metrics http://%s/metrics, log %s\n",
			e.ControllerHealth, e.ControllerMetrics, filepath.Join(e.Dir, "logs", ControllerName+".log"))
		fmt.Fprintf(&b, "# LINSTOR REST API v1 of the first controller (linstor-csi, golinstor, curl $LS_CONTROLLERS/v1/nodes); plain HTTP on loopback, no client certificate\n")
		fmt.Fprintf(&b, "export LS_CONTROLLERS=%s\n", e.LinstorAPI)
	}
	fmt.Fprintf(&b, "# piraeus-operator (webhook and converge loop): log %s\n", filepath.Join(e.Dir, "logs", OperatorName+".log"))
	for _, n := range e.Nodes {
		fmt.Fprintf(&b, "# agent %s: %s (mTLS: %s), pool %s on %s\n", n.Name, n.AgentAddress, n.TLSDir, n.PoolDir, n.Loop)
	}
	b.WriteString(e.csiEnv())
	fmt.Fprintf(&b, "# controller client certificate for the agents: %s\n", e.ControllerTLSDir)
	fmt.Fprintf(&b, "# spec (plan inputs): %s\n", e.SpecDir())
	for _, l := range e.addonEnv {
		b.WriteString(l)
	}
	return os.WriteFile(e.EnvFile(), []byte(b.String()), 0o644)
}

// run runs the binary to completion, with its output in the error.
func (e *Env) run(ctx context.Context, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, e.opts.Binary, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("piraeusctl %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// decodeAll calls fn with each YAML document of data.
func decodeAll(data []byte, fn func([]byte) error) error {
	for _, doc := range bytes.Split(data, []byte("\n---\n")) {
		doc = bytes.TrimPrefix(bytes.TrimSpace(doc), []byte("---"))
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		if err := fn(doc); err != nil {
			return err
		}
	}
	return nil
}

func exitErr(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return fmt.Errorf("%w: %s", err, bytes.TrimSpace(ee.Stderr))
	}
	return err
}

func trimNewline(b []byte) []byte { return bytes.TrimSpace(b) }
