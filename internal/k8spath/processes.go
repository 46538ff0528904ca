package k8spath

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensions "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/piraeusctl/piraeusctl/internal/localup"
)

// ControllerManagerControllers are the kube-controller-manager controllers
// a CSI volume's life needs without a scheduler or kubelet: binding and
// expansion of claims, attach/detach (VolumeAttachments), and the
// finalizers the API server's StorageObjectInUseProtection admission puts
// on every claim and PV (without their controllers nothing is ever deleted).
var ControllerManagerControllers = []string{
	"persistentvolume-binder-controller",
	"persistentvolume-expander-controller",
	"persistentvolume-attach-detach-controller",
	"persistentvolumeclaim-protection-controller",
	"persistentvolume-protection-controller",
}

// csiControllerDeployment is the plan's CSI controller Deployment, whose
// sidecar arguments the local sidecars take.
const csiControllerDeployment = "linstor-csi-controller"

// sidecars are the plan's sidecar containers run here.
var sidecars = []string{"csi-provisioner", "csi-attacher", "csi-resizer", "csi-snapshotter"}

// retryMax caps the sidecars' exponential retry (upstream: 5 min), so an
// operation that first fails by order (a volume deleted before its
// snapshot) is retried within seconds, as a test or demo waits for it.
const retryMax = "5s"

func (p *Path) tool(name string) string { return filepath.Join(p.opts.Tools, name) }

// applySnapshotCRDs creates the VolumeSnapshot CRDs hack/csi-sidecars.sh
// copied from external-snapshotter's client module and waits until they are
// established (snapshot-controller exits without them).
func (p *Path) applySnapshotCRDs(ctx context.Context) error {
	cs, err := apiextensions.NewForConfig(p.env.Config)
	if err != nil {
		return err
	}
	files, err := filepath.Glob(filepath.Join(p.opts.Tools, "crd", "*.yaml"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no CRDs in %s (run hack/csi-sidecars.sh ensure)", filepath.Join(p.opts.Tools, "crd"))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.Unmarshal(data, &crd); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if _, err := cs.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, &crd, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create CRD %s: %w", crd.Name, err)
		}
		if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			got, err := cs.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, crd.Name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			for _, c := range got.Status.Conditions {
				if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		}); err != nil {
			return fmt.Errorf("CRD %s not established: %w", crd.Name, err)
		}
	}
	return nil
}

func (p *Path) startControllerManager(ctx context.Context) error {
	return p.env.StartProcess(ctx, "kube-controller-manager", p.tool("kube-controller-manager"), "",
		"--kubeconfig="+p.env.Kubeconfig,
		"--controllers="+strings.Join(ControllerManagerControllers, ","),
		"--secure-port=0", "--leader-elect=false", "--use-service-account-credentials=false",
		"--pvclaimbinder-sync-period=2s")
}

func (p *Path) startSnapshotController(ctx context.Context) error {
	return p.env.StartProcess(ctx, "snapshot-controller", p.tool("snapshot-controller"), "",
		"--kubeconfig="+p.env.Kubeconfig, "--leader-election=false", "--retry-interval-max="+retryMax)
}

// startSidecars runs each sidecar with the arguments of its container in
// the plan's Deployment, pointed at the local CSI controller socket.
func (p *Path) startSidecars(ctx context.Context) error {
	cs, err := kubernetes.NewForConfig(p.env.Config)
	if err != nil {
		return err
	}
	d, err := cs.AppsV1().Deployments(localup.Namespace).Get(ctx, csiControllerDeployment, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("the plan's CSI controller: %w", err)
	}
	socket := strings.TrimPrefix(p.opts.ControllerEndpoint, "unix://")
	for _, name := range sidecars {
		i := slices.IndexFunc(d.Spec.Template.Spec.Containers, func(c corev1.Container) bool { return c.Name == name })
		if i < 0 {
			return fmt.Errorf("Deployment %s has no container %s", csiControllerDeployment, name)
		}
		args, err := LocalSidecarArgs(d.Spec.Template.Spec.Containers[i].Args, socket, p.env.Kubeconfig)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := p.env.StartProcess(ctx, name, p.tool(name), "", args...); err != nil {
			return err
		}
	}
	return nil
}

// LocalSidecarArgs turns a sidecar container's arguments in the plan into
// the arguments of a local process: the socket path for $(ADDRESS), the
// admin kubeconfig, no leader election and no storage capacity objects
// (both need a Pod of their own: its namespace and owner chain), and a short
// retry cap. Any other $(VAR) is an error.
func LocalSidecarArgs(planArgs []string, socket, kubeconfig string) ([]string, error) {
	args := []string{"--kubeconfig=" + kubeconfig}
	for _, a := range planArgs {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch name {
		case "leader-election", "leader-election-namespace", "enable-capacity", "capacity-ownerref-level", "retry-interval-max", "kubeconfig":
			continue
		}
		a = strings.ReplaceAll(a, "$(ADDRESS)", socket)
		if i := strings.Index(a, "$("); i >= 0 {
			return nil, fmt.Errorf("argument %q: unknown variable (only $(ADDRESS) is known locally)", a)
		}
		args = append(args, a)
	}
	return append(args, "--retry-interval-max="+retryMax), nil
}
