package operator_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/piraeusctl/piraeusctl/internal/kubetest"
	"github.com/piraeusctl/piraeusctl/internal/localup"
	"github.com/piraeusctl/piraeusctl/operator"
	"github.com/piraeusctl/piraeusctl/planfile"
	"github.com/piraeusctl/piraeusctl/render"
)

// webhookConfig is the ValidatingWebhookConfiguration the plan renders.
const webhookConfig = "piraeus-operator-validating-webhook-configuration"

var (
	gvrSatellites  = schema.GroupVersionResource{Group: "piraeus.io", Version: "v1", Resource: "linstorsatellites"}
	gvrSatConfs    = schema.GroupVersionResource{Group: "piraeus.io", Version: "v1", Resource: "linstorsatelliteconfigurations"}
	gvrClusters    = schema.GroupVersionResource{Group: "piraeus.io", Version: "v1", Resource: "linstorclusters"}
	gvrWebhookConf = schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingwebhookconfigurations"}
)

// running is one loop under test: its passes and its own writes, counted
// at the HTTP boundary (every request the loop sends to the API server).
type running struct {
	t       *testing.T
	loop    *operator.Loop
	writes  *kubetest.Counter
	mu      sync.Mutex
	passes  []operator.Outcome
	stopped chan struct{}
	cancel  context.CancelFunc
}

// startLoop runs a loop against env (short debounce and resync), with
// cfg's identity (an impersonated one for the RBAC test).
func startLoop(t *testing.T, cfg *rest.Config, mutate func(*operator.Options)) *running {
	t.Helper()
	counted, counter := kubetest.Counting(cfg)
	r := &running{t: t, writes: counter, stopped: make(chan struct{})}
	opts := operator.DefaultOptions()
	opts.Config, opts.Namespace = counted, localup.Namespace
	opts.Debounce, opts.Resync, opts.RetryAfter = 100*time.Millisecond, time.Second, time.Second
	opts.Logger = slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	opts.OnPass = func(o operator.Outcome) {
		r.mu.Lock()
		r.passes = append(r.passes, o)
		r.mu.Unlock()
	}
	if mutate != nil {
		mutate(&opts)
	}
	loop, err := operator.New(opts)
	require.NoError(t, err)
	r.loop = loop
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		defer close(r.stopped)
		assert.NoError(t, loop.Run(ctx))
	}()
	t.Cleanup(r.stop)
	return r
}

func (r *running) stop() {
	r.cancel()
	<-r.stopped
}

func (r *running) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.passes)
}

func (r *running) last() operator.Outcome {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.passes[len(r.passes)-1]
}

// after waits for n more passes and returns the last.
func (r *running) after(n int) operator.Outcome {
	r.t.Helper()
	want := r.count() + n
	require.Eventually(r.t, func() bool { return r.count() >= want }, time.Duration(n)*20*time.Second, 50*time.Millisecond,
		"no pass came")
	return r.last()
}

// settle waits for a pass that wrote nothing to objects (after a first
// co-owning pass) and returns it.
func (r *running) settle() operator.Outcome {
	r.t.Helper()
	for range 10 {
		o := r.after(1)
		require.NoError(r.t, o.Err())
		require.NoError(r.t, o.StatusErr)
		if o.Writes == 0 {
			return o
		}
	}
	r.t.Fatal("the loop never settled")
	return operator.Outcome{}
}

type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// TestConverge runs the loop against the local datastore (real API
// server, webhook, controller and agents): steady state, drift, a new
// Node, a changed configuration, per-node status.
func TestConverge(t *testing.T) {
	env := localDatastore(t)
	dyn := dynamic.NewForConfigOrDie(env.Config)
	cs := kubernetes.NewForConfigOrDie(env.Config)
	ctx := t.Context()
	r := startLoop(t, env.Config, nil)
	r.settle()

	t.Run("steady state writes nothing", func(t *testing.T) {
		r.writes.Reset()
		for range 3 {
			o := r.after(1)
			assert.Zero(t, o.Writes)
			assert.Empty(t, o.Drift)
		}
		assert.Empty(t, r.writes.Writes(), "writes over three idle resyncs")
	})

	t.Run("status a Piraeus user reads", func(t *testing.T) {
		require.Eventually(t, func() bool {
			for _, n := range env.Nodes {
				sat, err := dyn.Resource(gvrSatellites).Get(ctx, n.Name, metav1.GetOptions{})
				if err != nil || conditionStatus(sat, "Available") != "True" || conditionStatus(sat, "Configured") != "True" ||
					conditionStatus(sat, "Applied") != "True" {
					return false
				}
			}
			return true
		}, 60*time.Second, 200*time.Millisecond, "every LinstorSatellite Applied, Available, Configured")
		cluster, err := dyn.Resource(gvrClusters).Get(ctx, "linstorcluster", metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, "True", conditionStatus(cluster, "Applied"))
		assert.Equal(t, "True", conditionStatus(cluster, "Available"))
		require.Eventually(t, func() bool {
			cluster, err := dyn.Resource(gvrClusters).Get(ctx, "linstorcluster", metav1.GetOptions{})
			return err == nil && conditionStatus(cluster, "Configured") == "True"
		}, 30*time.Second, 200*time.Millisecond)
		conf, err := dyn.Resource(gvrSatConfs).Get(ctx, "pool-local-1", metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, "True", conditionStatus(conf, "Applied"))
		assert.Contains(t, conditionMessage(conf, "Applied"), "local-1")
		assert.Equal(t, conf.GetGeneration(), conditionGeneration(conf, "Applied"))
	})

	t.Run("drift is put back with an Event naming the fields", func(t *testing.T) {
		ds := satelliteDaemonSet(t, env.Nodes[0].Name)
		require.NoError(t, cs.CoreV1().Services(localup.Namespace).Delete(ctx, "linstor-controller", metav1.DeleteOptions{}))
		_, err := cs.AppsV1().DaemonSets(localup.Namespace).Patch(ctx, ds, types.JSONPatchType,
			[]byte(`[{"op":"replace","path":"/spec/template/spec/hostNetwork","value":false}]`), metav1.PatchOptions{FieldManager: "kubectl-edit"})
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			d, err := cs.AppsV1().DaemonSets(localup.Namespace).Get(ctx, ds, metav1.GetOptions{})
			_, svcErr := cs.CoreV1().Services(localup.Namespace).Get(ctx, "linstor-controller", metav1.GetOptions{})
			return err == nil && d.Spec.Template.Spec.HostNetwork && svcErr == nil
		}, 20*time.Second, 100*time.Millisecond, "the DaemonSet and the Service come back")
		require.Eventually(t, func() bool {
			notes := eventNotes(t, cs, operator.ReasonDriftCorrected)
			return containsAll(notes, "DaemonSet/"+localup.Namespace+"/"+ds+" differed from the plan in spec.template.spec.hostNetwork",
				"Service/"+localup.Namespace+"/linstor-controller was missing")
		}, 10*time.Second, 100*time.Millisecond, "Events say what changed: %q", eventNotes(t, cs, operator.ReasonDriftCorrected))
		r.settle()
	})

	t.Run("a new Node gets its satellite", func(t *testing.T) {
		start := time.Now()
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "local-4", Labels: map[string]string{
			"kubernetes.io/hostname": "local-4", "topology.kubernetes.io/zone": "zone-4"}}}
		_, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
		require.NoError(t, err)
		name, err := render.SatelliteName("local-4")
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			_, err := cs.AppsV1().DaemonSets(localup.Namespace).Get(ctx, name, metav1.GetOptions{})
			return err == nil
		}, 20*time.Second, 20*time.Millisecond, "DaemonSet of the new node")
		t.Logf("Node added → DaemonSet applied in %s", time.Since(start).Round(time.Millisecond))
		require.Eventually(t, func() bool {
			_, err := dyn.Resource(gvrSatellites).Get(ctx, "local-4", metav1.GetOptions{})
			return err == nil
		}, 10*time.Second, 20*time.Millisecond, "LinstorSatellite of the new node")
		r.settle()
	})

	t.Run("a changed configuration rolls its DaemonSet", func(t *testing.T) {
		ds, other := satelliteDaemonSet(t, env.Nodes[1].Name), satelliteDaemonSet(t, env.Nodes[0].Name)
		before, otherBefore := topologyHash(t, cs, ds), topologyHash(t, cs, other)
		patch := `{"spec":{"properties":[{"name":"Aux/test","value":"changed"}]}}`
		_, err := dyn.Resource(gvrSatConfs).Patch(ctx, "pool-local-2", types.MergePatchType, []byte(patch), metav1.PatchOptions{FieldManager: "test"})
		require.NoError(t, err)
		require.Eventually(t, func() bool { return topologyHash(t, cs, ds) != before }, 20*time.Second, 100*time.Millisecond)
		assert.Equal(t, otherBefore, topologyHash(t, cs, other), "a node the configuration does not select keeps its Pod")
		r.settle()
	})
	r.stop()

	t.Run("the rendered RBAC is all the loop needs", func(t *testing.T) {
		sa := rest.CopyConfig(env.Config)
		sa.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + localup.Namespace + ":piraeus-operator"}
		as := startLoop(t, sa, nil)
		o := as.settle()
		require.NoError(t, o.StatusErr)
		require.NoError(t, cs.CoreV1().Services(localup.Namespace).Delete(ctx, "linstor-controller", metav1.DeleteOptions{}))
		require.Eventually(t, func() bool {
			_, err := cs.CoreV1().Services(localup.Namespace).Get(ctx, "linstor-controller", metav1.GetOptions{})
			return err == nil
		}, 20*time.Second, 100*time.Millisecond, "drift corrected as the operator's ServiceAccount")
		o = as.settle()
		require.NoError(t, o.StatusErr)
		as.stop()
	})

	t.Run("a plan that does not validate applies nothing", func(t *testing.T) {
		// The webhook would refuse the configuration: as if it had been down.
		require.NoError(t, dyn.Resource(gvrWebhookConf).Delete(ctx, webhookConfig, metav1.DeleteOptions{}))
		bad := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "piraeus.io/v1", "kind": "LinstorSatelliteConfiguration",
			"metadata": map[string]any{"name": "zz-bad"},
			"spec": map[string]any{"storagePools": []any{
				map[string]any{"name": "thin", "lvmThinPool": map[string]any{"volumeGroup": "vg", "thinPool": "tp"}},
			}},
		}}
		_, err := dyn.Resource(gvrSatConfs).Create(ctx, bad, metav1.CreateOptions{})
		require.NoError(t, err)
		bad2 := startLoop(t, env.Config, nil)
		o := bad2.after(1)
		require.Error(t, o.PlanErr)
		assert.Nil(t, o.Apply, "nothing applied")
		_, err = dyn.Resource(gvrWebhookConf).Get(ctx, webhookConfig, metav1.GetOptions{})
		assert.True(t, apierrors.IsNotFound(err), "the webhook configuration stays deleted: %v", err)
		cluster, err := dyn.Resource(gvrClusters).Get(ctx, "linstorcluster", metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, "False", conditionStatus(cluster, "Applied"))
		assert.Contains(t, conditionMessage(cluster, "Applied"), "does not validate")
		conf, err := dyn.Resource(gvrSatConfs).Get(ctx, "zz-bad", metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, "InvalidConfiguration", conditionReason(conf, "Applied"))
		t.Logf("zz-bad Applied: %s", conditionMessage(conf, "Applied"))
		assert.NotEmpty(t, eventNotes(t, cs, operator.ReasonPlanInvalid))

		require.NoError(t, dyn.Resource(gvrSatConfs).Delete(ctx, "zz-bad", metav1.DeleteOptions{}))
		require.Eventually(t, func() bool {
			_, err := dyn.Resource(gvrWebhookConf).Get(ctx, webhookConfig, metav1.GetOptions{})
			return err == nil
		}, 20*time.Second, 100*time.Millisecond, "fixed input: the plan applies again")
		bad2.settle()
		bad2.stop()
	})

	t.Run("report mode never writes managed objects", func(t *testing.T) {
		rep := startLoop(t, env.Config, func(o *operator.Options) { o.Drift = operator.DriftReport })
		rep.settle()
		ds := satelliteDaemonSet(t, env.Nodes[0].Name)
		_, err := cs.AppsV1().DaemonSets(localup.Namespace).Patch(ctx, ds, types.JSONPatchType,
			[]byte(`[{"op":"replace","path":"/spec/template/spec/hostNetwork","value":false}]`), metav1.PatchOptions{FieldManager: "kubectl-edit"})
		require.NoError(t, err)
		rep.writes.Reset()
		require.Eventually(t, func() bool {
			o := rep.last()
			return len(o.Drift) == 1 && o.Drift[0].Object.Name == ds
		}, 20*time.Second, 100*time.Millisecond)
		for _, w := range rep.writes.Writes() {
			assert.True(t, strings.Contains(w, "/status") || strings.Contains(w, "/events"), "report mode wrote %s", w)
		}
		d, err := cs.AppsV1().DaemonSets(localup.Namespace).Get(ctx, ds, metav1.GetOptions{})
		require.NoError(t, err)
		assert.False(t, d.Spec.Template.Spec.HostNetwork, "drift left alone")
		cluster, err := dyn.Resource(gvrClusters).Get(ctx, "linstorcluster", metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, "DriftDetected", conditionReason(cluster, "Applied"))
		rep.stop()
		fix := startLoop(t, env.Config, nil) // correct mode puts it back
		fix.settle()
		fix.stop()
	})
}

// TestGitOps: the exported plan applied by kubectl as Argo CD would (its
// own field manager, server-side) and the operator converge to the same
// objects: after the operator's first pass, neither writes.
func TestGitOps(t *testing.T) {
	env := localDatastore(t)
	ctx := t.Context()
	r := startLoop(t, env.Config, nil)
	r.settle()
	res, err := r.loop.Plan(ctx)
	require.NoError(t, err)
	dir := filepath.Join(t.TempDir(), "export")
	_, err = planfile.Export(res.Plan.Objects, dir, planfile.ExportOptions{})
	require.NoError(t, err)
	kubectl := func() string {
		assets, err := kubetest.AssetsDir()
		require.NoError(t, err)
		out, err := exec.CommandContext(ctx, filepath.Join(assets, "kubectl"), "--kubeconfig", env.Kubeconfig,
			"apply", "--server-side", "--field-manager=argocd-controller", "-k", dir).CombinedOutput()
		require.NoError(t, err, "%s", out)
		return string(out)
	}
	kubectl()
	r.settle()
	r.writes.Reset()
	for range 3 {
		assert.Zero(t, r.after(1).Writes)
	}
	assert.Empty(t, r.writes.Writes(), "operator writes after convergence")
	// Argo CD syncs again: nothing changes in the cluster either.
	versions := resourceVersions(t, env.Config, res.Plan.Objects)
	kubectl()
	assert.Equal(t, versions, resourceVersions(t, env.Config, res.Plan.Objects), "a second kubectl apply changed objects")
	assert.Zero(t, r.after(1).Writes)
	assert.Empty(t, r.writes.Writes())
}

// TestTwoOperators: of two operators under leader election one writes.
func TestTwoOperators(t *testing.T) {
	env := localDatastore(t)
	cs := kubernetes.NewForConfigOrDie(env.Config)
	var loops []*running
	for i := range 2 {
		r := startElected(t, env.Config, fmt.Sprintf("operator-%d", i))
		loops = append(loops, r)
	}
	require.Eventually(t, func() bool { return loops[0].count()+loops[1].count() >= 3 }, 60*time.Second, 100*time.Millisecond)
	// Drift so that the leader must write.
	require.NoError(t, cs.CoreV1().Services(localup.Namespace).Delete(t.Context(), "linstor-controller", metav1.DeleteOptions{}))
	require.Eventually(t, func() bool {
		_, err := cs.CoreV1().Services(localup.Namespace).Get(t.Context(), "linstor-controller", metav1.GetOptions{})
		return err == nil
	}, 30*time.Second, 100*time.Millisecond)
	wrote := 0
	for _, r := range loops {
		if len(r.writes.Writes()) > 0 {
			wrote++
		}
	}
	assert.Equal(t, 1, wrote, "operators that wrote")
	assert.True(t, loops[0].count() == 0 || loops[1].count() == 0, "only the leader passes")
}

func startElected(t *testing.T, cfg *rest.Config, id string) *running {
	counted, counter := kubetest.Counting(cfg)
	r := &running{t: t, writes: counter, stopped: make(chan struct{})}
	opts := operator.DefaultOptions()
	opts.Config, opts.Namespace = counted, localup.Namespace
	opts.Debounce, opts.Resync = 100*time.Millisecond, time.Second
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	opts.OnPass = func(o operator.Outcome) {
		r.mu.Lock()
		r.passes = append(r.passes, o)
		r.mu.Unlock()
	}
	loop, err := operator.New(opts)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		defer close(r.stopped)
		// The election's Lease writes go through their own client: not the loop's.
		_ = loop.RunElected(ctx, operator.Election{Client: kubernetes.NewForConfigOrDie(cfg), Namespace: localup.Namespace, Identity: id,
			LeaseDuration: 4 * time.Second, RenewDeadline: 3 * time.Second, RetryPeriod: 500 * time.Millisecond})
	}()
	t.Cleanup(r.stop)
	return r
}

// resourceVersions are the live versions of the planned objects.
func resourceVersions(t *testing.T, cfg *rest.Config, objs []*unstructured.Unstructured) map[string]string {
	dyn := dynamic.NewForConfigOrDie(cfg)
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(discovery.NewDiscoveryClientForConfigOrDie(cfg)))
	out := map[string]string{}
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		if gvk.Group == operator.StorageGroup {
			continue // the controller writes their status: not a sync's doing
		}
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		require.NoError(t, err)
		live, err := dyn.Resource(m.Resource).Namespace(o.GetNamespace()).Get(t.Context(), o.GetName(), metav1.GetOptions{})
		require.NoError(t, err)
		out[planfile.ObjectID(o)] = live.GetResourceVersion()
	}
	return out
}

func satelliteDaemonSet(t *testing.T, node string) string {
	name, err := render.SatelliteName(node)
	require.NoError(t, err)
	return name
}

func topologyHash(t *testing.T, cs kubernetes.Interface, ds string) string {
	d, err := cs.AppsV1().DaemonSets(localup.Namespace).Get(t.Context(), ds, metav1.GetOptions{})
	require.NoError(t, err)
	return d.Spec.Template.Annotations["storage.piraeus.io/topology-hash"]
}

func eventNotes(t *testing.T, cs kubernetes.Interface, reason string) []string {
	list, err := cs.EventsV1().Events("").List(t.Context(), metav1.ListOptions{})
	require.NoError(t, err)
	var out []string
	for _, e := range list.Items {
		if e.Reason == reason {
			out = append(out, e.Note)
		}
	}
	return out
}

func containsAll(notes []string, wants ...string) bool {
	for _, w := range wants {
		found := false
		for _, n := range notes {
			found = found || strings.Contains(n, w)
		}
		if !found {
			return false
		}
	}
	return true
}

func condition(obj *unstructured.Unstructured, t string) map[string]any {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == t {
			return m
		}
	}
	return map[string]any{}
}

func conditionStatus(obj *unstructured.Unstructured, t string) string {
	s, _ := condition(obj, t)["status"].(string)
	return s
}

func conditionReason(obj *unstructured.Unstructured, t string) string {
	s, _ := condition(obj, t)["reason"].(string)
	return s
}

func conditionMessage(obj *unstructured.Unstructured, t string) string {
	s, _ := condition(obj, t)["message"].(string)
	return s
}

func conditionGeneration(obj *unstructured.Unstructured, t string) int64 {
	g, _ := condition(obj, t)["observedGeneration"].(int64)
	return g
}
