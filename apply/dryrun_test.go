package apply

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/piraeusctl/piraeusctl/internal/kubetest"
)

func TestDryRunServerWritesNothing(t *testing.T) {
	cfg, counter := kubetest.Counting(kube.Config(t))
	id, objs, opts := testCase(t, "dry")
	opts.Prune = true

	// Nothing exists: the namespace and CRD would be created; what lives in the
	// new namespace or is of the new kind cannot be checked yet.
	opts.DryRun = DryRunServer
	res, err := Run(t.Context(), cfg, objs, opts)
	require.NoError(t, err)
	assert.Empty(t, counter.Writes())
	assert.Equal(t, Created, actions(res)["Namespace/apply-"+id])
	assert.Equal(t, Created, actions(res)["CustomResourceDefinition/widgets."+id+".example.com"])
	assert.Equal(t, Created, actions(res)["ClusterRole/apply-"+id+"-satellite"])
	assert.Equal(t, Skipped, actions(res)["Widget/cluster"])
	assert.Equal(t, Skipped, actions(res)["Deployment/controller"])

	opts.DryRun = DryRunNone
	_, err = Run(t.Context(), cfg, objs, opts)
	require.NoError(t, err)

	// A changed image and a DaemonSet that left: reported, not written.
	changed := without(objs, "DaemonSet", "satellite-node-b")
	dep := find(t, changed, "Deployment", "controller")
	containers, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	containers[0].(map[string]any)["image"] = "piraeusctl:v2"
	require.NoError(t, unstructured.SetNestedSlice(dep.Object, containers, "spec", "template", "spec", "containers"))
	for _, mode := range []DryRun{DryRunServer, DryRunClient} {
		counter.Reset()
		opts.DryRun = mode
		res, err = Run(t.Context(), cfg, changed, opts)
		require.NoError(t, err)
		assert.Empty(t, counter.Writes(), mode)
		assert.Equal(t, Configured, actions(res)["Deployment/controller"], mode)
		assert.Equal(t, Pruned, actions(res)["DaemonSet/satellite-node-b"], mode)
		if mode == DryRunServer {
			assert.Equal(t, len(changed)-1, res.Summary[Unchanged], mode)
		} else {
			// Locally the defaulted webhook rules cannot be confirmed unchanged.
			assert.Equal(t, Configured, actions(res)["ValidatingWebhookConfiguration/apply-"+id+"-widgets"])
			assert.Equal(t, len(changed)-2, res.Summary[Unchanged], mode)
			assert.Zero(t, counter.Method("PATCH")+counter.Method("DELETE"), "client dry run sends no write at all")
		}
	}
	dyn := dynamic.NewForConfigOrDie(cfg)
	live, err := dyn.Resource(deploymentsGVR).Namespace(opts.Namespace).Get(t.Context(), "controller", metav1.GetOptions{})
	require.NoError(t, err)
	liveContainers, _, _ := unstructured.NestedSlice(live.Object, "spec", "template", "spec", "containers")
	assert.Equal(t, "piraeusctl:dev", liveContainers[0].(map[string]any)["image"])
	_, err = dyn.Resource(daemonSetsGVR).Namespace(opts.Namespace).Get(t.Context(), "satellite-node-b", metav1.GetOptions{})
	assert.NoError(t, err)
}

func TestInterruptedApplyConvergesOnRerun(t *testing.T) {
	base := kube.Config(t)
	cfg, counter := kubetest.Counting(base)
	_, objs, opts := testCase(t, "kill")
	opts.Prune = true
	opts.Concurrency = 1

	ctx, cancel := context.WithCancel(t.Context())
	counter.OnWrite(func(n int) {
		if n == 6 {
			cancel()
		}
	})
	res, err := Run(ctx, cfg, objs, opts)
	require.Error(t, err, "the run was cancelled half way")
	created := res.Summary[Created]
	require.Less(t, created, len(objs))
	t.Logf("interrupted after %d writes: %s", len(counter.Writes()), res.SummaryLine())

	counter.OnWrite(nil)
	res, err = Run(t.Context(), cfg, objs, opts)
	require.NoError(t, err)
	assert.Equal(t, len(objs), res.Summary[Created]+res.Summary[Unchanged], res.SummaryLine())
	assert.Zero(t, res.Summary[Pruned])

	counter.Reset()
	res, err = Run(t.Context(), cfg, objs, opts)
	require.NoError(t, err)
	assert.Equal(t, len(objs), res.Summary[Unchanged], res.SummaryLine())
	assert.Empty(t, counter.Writes())
}

func TestWaitReportsAndSeesReadiness(t *testing.T) {
	cfg := kube.Config(t)
	id, objs, opts := testCase(t, "wait")
	_, err := Run(t.Context(), cfg, objs, opts)
	require.NoError(t, err)

	// The test API server runs no controllers: nothing becomes ready alone.
	opts.Wait, opts.Timeout = true, 700*1e6
	_, err = Run(t.Context(), cfg, objs, opts)
	var waitErr *WaitError
	require.ErrorAs(t, err, &waitErr)
	assert.Equal(t, []string{
		"DaemonSet/apply-" + id + "/satellite-node-a: generation 1 not observed yet (at 0)",
		"DaemonSet/apply-" + id + "/satellite-node-b: generation 1 not observed yet (at 0)",
		"Deployment/apply-" + id + "/controller: generation 1 not observed yet (at 0)",
	}, waitErr.Pending)

	// Play the controllers: set status through the status subresource.
	dyn := dynamic.NewForConfigOrDie(cfg)
	setStatus(t, dyn.Resource(deploymentsGVR).Namespace(opts.Namespace), "controller",
		map[string]any{"observedGeneration": int64(1), "replicas": int64(1), "updatedReplicas": int64(1), "readyReplicas": int64(1)})
	for _, name := range []string{"satellite-node-a", "satellite-node-b"} {
		setStatus(t, dyn.Resource(daemonSetsGVR).Namespace(opts.Namespace), name,
			map[string]any{"observedGeneration": int64(1), "desiredNumberScheduled": int64(1), "currentNumberScheduled": int64(1),
				"numberMisscheduled": int64(0), "numberReady": int64(1), "updatedNumberScheduled": int64(1)})
	}
	opts.Timeout = 30 * 1e9
	_, err = Run(t.Context(), cfg, objs, opts)
	require.NoError(t, err)
}

func setStatus(t *testing.T, ri dynamic.ResourceInterface, name string, status map[string]any) {
	t.Helper()
	obj, err := ri.Get(t.Context(), name, metav1.GetOptions{})
	require.NoError(t, err)
	obj.Object["status"] = status
	_, err = ri.UpdateStatus(t.Context(), obj, metav1.UpdateOptions{})
	require.NoError(t, err)
}
