package apply

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

var (
	daemonSetsGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "daemonsets"}
	pvcsGVR       = schema.GroupVersionResource{Version: "v1", Resource: "persistentvolumeclaims"}
	crdsGVR       = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	secretsGVR    = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
)

func TestPruneRemovesOnlyWhatLeftAndKeepsData(t *testing.T) {
	cfg := kube.Config(t)
	id, objs, opts := testCase(t, "prune")
	opts.Prune = true
	_, err := Run(t.Context(), cfg, objs, opts)
	require.NoError(t, err)

	// node-b leaves the inputs: its satellite goes; the PVC and the CRD (whose
	// Widget still exists) leave the plan too but hold data.
	crdName := "widgets." + id + ".example.com"
	next := without(without(without(objs, "DaemonSet", "satellite-node-b"),
		"PersistentVolumeClaim", "data"), "CustomResourceDefinition", crdName)
	res, err := Run(t.Context(), cfg, next, opts)
	require.NoError(t, err)
	got := actions(res)
	assert.Equal(t, Pruned, got["DaemonSet/satellite-node-b"])
	assert.Equal(t, Kept, got["PersistentVolumeClaim/data"])
	assert.Equal(t, Kept, got["CustomResourceDefinition/"+crdName])
	assert.EqualValues(t, 1, countActions(res, Pruned), res.SummaryLine())
	assert.Equal(t, len(next), countActions(res, Unchanged), res.SummaryLine())

	dyn := dynamic.NewForConfigOrDie(cfg)
	ns := opts.Namespace
	_, err = dyn.Resource(daemonSetsGVR).Namespace(ns).Get(t.Context(), "satellite-node-b", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "pruned DaemonSet is gone: %v", err)
	_, err = dyn.Resource(daemonSetsGVR).Namespace(ns).Get(t.Context(), "satellite-node-a", metav1.GetOptions{})
	assert.NoError(t, err)
	_, err = dyn.Resource(pvcsGVR).Namespace(ns).Get(t.Context(), "data", metav1.GetOptions{})
	assert.NoError(t, err, "a PVC is never pruned")
	_, err = dyn.Resource(crdsGVR).Get(t.Context(), crdName, metav1.GetOptions{})
	assert.NoError(t, err, "a CRD with objects is never pruned")

	// kubectl sees the same ApplySet: the parent by its ID label, the members by part-of.
	setID := ApplySetID(opts.ApplySetName, ns, schema.GroupKind{Kind: "Secret"})
	kubeconfig := kube.Kubeconfig(t)
	parent := kubectl(t, kubeconfig, "get", "secrets", "-n", ns, "-l", LabelApplySetID+"="+setID,
		"-o", `jsonpath={.items[*].metadata.name} {.items[*].metadata.annotations.applyset\.kubernetes\.io/contains-group-kinds}`)
	assert.Equal(t, "piraeusctl CSIDriver.storage.k8s.io,ClusterRole.rbac.authorization.k8s.io,ClusterRoleBinding.rbac.authorization.k8s.io,"+
		"ConfigMap,CustomResourceDefinition.apiextensions.k8s.io,DaemonSet.apps,Deployment.apps,Namespace,"+
		"PersistentVolumeClaim,Service,ServiceAccount,StorageClass.storage.k8s.io,"+
		"ValidatingWebhookConfiguration.admissionregistration.k8s.io,Widget."+id+".example.com", parent)
	members := kubectl(t, kubeconfig, "get", "daemonsets,pvc", "-n", ns, "-l", LabelPartOf+"="+setID,
		"-o", "jsonpath={.items[*].metadata.name}")
	assert.Equal(t, "satellite-node-a data", members)
}

// TestApplySetIDMatchesKubectl lets kubectl create an ApplySet and checks that
// ApplySetID computes the ID kubectl wrote, and that kubectl's annotations
// have the format piraeusctl reads.
func TestApplySetIDMatchesKubectl(t *testing.T) {
	cfg := kube.Config(t)
	ns := "apply-" + testID("kubectl")
	_, err := Run(t.Context(), cfg, testObjects(t, strings.TrimPrefix(ns, "apply-"))[:1], Options{})
	require.NoError(t, err)
	manifest := filepath.Join(t.TempDir(), "cm.yaml")
	require.NoError(t, os.WriteFile(manifest, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: by-kubectl\ndata:\n  a: b\n"), 0o600))
	kubectl(t, kube.Kubeconfig(t), "apply", "--server-side", "--prune", "--applyset=kset", "-n", ns, "-f", manifest)

	parent, err := dynamic.NewForConfigOrDie(cfg).Resource(secretsGVR).Namespace(ns).Get(t.Context(), "kset", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, ApplySetID("kset", ns, schema.GroupKind{Kind: "Secret"}), parent.GetLabels()[LabelApplySetID])
	assert.Equal(t, "ConfigMap", parent.GetAnnotations()[AnnotationGroupKinds])
	assert.True(t, strings.HasPrefix(parent.GetAnnotations()[AnnotationTooling], "kubectl/"))

	// piraeusctl refuses to take over a set that kubectl manages.
	opts := Options{Namespace: ns, ApplySetName: "kset", Prune: true}
	_, err = Run(t.Context(), cfg, testObjects(t, strings.TrimPrefix(ns, "apply-"))[:1], opts)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Secret/"+ns+"/kset: ApplySet is managed by tooling")
}

// kubectl runs the installed kubectl against the test API server.
func kubectl(t *testing.T, kubeconfig string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), filepath.Join(kube.AssetsDir(), "kubectl"), append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECTL_APPLYSET=true")
	out, err := cmd.Output()
	var stderr string
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = string(ee.Stderr)
	}
	require.NoError(t, err, "kubectl %s\n%s", strings.Join(args, " "), stderr)
	return strings.TrimSpace(string(out))
}
