package operator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/piraeusctl/piraeusctl/agent/drbdsim"
	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	"github.com/piraeusctl/piraeusctl/hostexec"
	"github.com/piraeusctl/piraeusctl/internal/localup"
	"github.com/piraeusctl/piraeusctl/render"
)

// evacuatedVolumes is how many volumes the evacuation test moves.
const evacuatedVolumes = 8

var (
	gvrVolumes = storagev1alpha1.GroupVersion.WithResource("storagevolumes")
	gvrTopo    = storagev1alpha1.GroupVersion.WithResource("storagetopologies")
)

// TestEvacuate removes a node whose deletion policy is Evacuate from the
// local datastore (real API server, webhook, controller, agents; DRBD
// simulated) while volumes have replicas there: its Node is deleted (its
// agent is unreachable from then on), or the LinstorCluster no longer
// selects it (its agent runs on and removes the old replicas). The
// loop moves each replica step by step (replacement added, old replica
// kept until the replacement is UpToDate, then dropped); the node's
// LinstorSatellite reports EvacuationCompleted False, then True; only then
// does the node leave the StorageTopology and the LinstorSatellite go.
// Every volume ends with its replicas elsewhere, UpToDate, on the data
// generation it had before (nothing was lost or started anew).
func TestEvacuate(t *testing.T) {
	t.Run("NodeDeleted", func(t *testing.T) {
		evacuate(t, func(ctx context.Context, cs kubernetes.Interface, node string) error {
			return cs.CoreV1().Nodes().Delete(ctx, node, metav1.DeleteOptions{})
		})
	})
	t.Run("NotSelected", func(t *testing.T) {
		evacuate(t, func(ctx context.Context, cs kubernetes.Interface, node string) error {
			_, err := cs.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, []byte(`{"metadata":{"labels":{"`+storageLabel+`":"retired"}}}`), metav1.PatchOptions{})
			return err
		})
	})
}

// evacuationDatastore is the local datastore of four nodes, each labelled
// storageLabel with deletion policy Evacuate, the LinstorCluster patched
// with clusterPatch, a loop running, and evacuatedVolumes two-replica
// volumes Ready.
func evacuationDatastore(t *testing.T, clusterPatch string) (*localup.Env, *running) {
	env := localDatastoreWith(t, localup.Options{Nodes: 4})
	dyn := dynamic.NewForConfigOrDie(env.Config)
	cs := kubernetes.NewForConfigOrDie(env.Config)
	ctx := t.Context()
	for _, n := range env.Nodes {
		_, err := dyn.Resource(gvrSatConfs).Patch(ctx, "pool-"+n.Name, types.MergePatchType,
			[]byte(`{"spec":{"deletionPolicy":"Evacuate"}}`), metav1.PatchOptions{FieldManager: "test"})
		require.NoError(t, err)
		_, err = cs.CoreV1().Nodes().Patch(ctx, n.Name, types.MergePatchType, []byte(`{"metadata":{"labels":{"`+storageLabel+`":"true"}}}`), metav1.PatchOptions{})
		require.NoError(t, err)
	}
	_, err := dyn.Resource(gvrClusters).Patch(ctx, "linstorcluster", types.MergePatchType, []byte(clusterPatch), metav1.PatchOptions{FieldManager: "test"})
	require.NoError(t, err)
	r := startLoop(t, env.Config, nil)
	r.settle()

	class := localup.ClassTwo
	for i := range evacuatedVolumes {
		pvc := &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("evac-%d", i), Namespace: "default"},
			Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: &class, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("32Mi")}}},
		}
		_, err := cs.CoreV1().PersistentVolumeClaims("default").Create(ctx, pvc, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool {
		vols := volumes(t, dyn)
		return len(vols) == evacuatedVolumes && !slices.ContainsFunc(vols, func(v storagev1alpha1.StorageVolume) bool {
			return !meta.IsStatusConditionTrue(v.Status.Conditions, storagev1alpha1.ConditionReady)
		})
	}, 2*time.Minute, 200*time.Millisecond, "every volume Ready")
	r.settle()
	return env, r
}

// TestEvacuateOneAtATime has the LinstorCluster stop selecting two nodes
// at once with maxConcurrentEvacuations 1: the first by name evacuates
// while the other waits for the slot (EvacuationCompleted WaitingForSlot),
// then takes it; both leave, every volume Ready on the two nodes that
// stay. (Their agents run on: a volume with both replicas on the two
// nodes syncs its replacements from them. Were both Nodes deleted, such a
// volume would wait, its data unreachable.)
func TestEvacuateOneAtATime(t *testing.T) {
	env, r := evacuationDatastore(t, `{"spec":{"maxConcurrentEvacuations":1,"nodeSelector":{"`+storageLabel+`":"true"}}}`)
	dyn := dynamic.NewForConfigOrDie(env.Config)
	cs := kubernetes.NewForConfigOrDie(env.Config)
	ctx := t.Context()
	first, second := env.Nodes[2].Name, env.Nodes[3].Name
	seenFirst, seenSecond := watchEvacuation(t, dyn, first), watchEvacuation(t, dyn, second)
	start := time.Now()
	for _, n := range []string{second, first} {
		_, err := cs.CoreV1().Nodes().Patch(ctx, n, types.MergePatchType, []byte(`{"metadata":{"labels":{"`+storageLabel+`":"retired"}}}`), metav1.PatchOptions{})
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool {
		_, err1 := dyn.Resource(gvrSatellites).Get(ctx, first, metav1.GetOptions{})
		_, err2 := dyn.Resource(gvrSatellites).Get(ctx, second, metav1.GetOptions{})
		return apierrors.IsNotFound(err1) && apierrors.IsNotFound(err2)
	}, 5*time.Minute, 100*time.Millisecond, "both LinstorSatellites go once evacuated")
	t.Logf("evacuated %s, then %s, in %s", first, second, time.Since(start).Round(time.Millisecond))
	reasons := func(conds []metav1.Condition) []string {
		var out []string
		for _, c := range conds {
			if len(out) == 0 || out[len(out)-1] != c.Reason {
				out = append(out, c.Reason)
			}
		}
		return out
	}
	assert.NotContains(t, reasons(seenFirst()), "WaitingForSlot", "%s is first by name", first)
	assert.Contains(t, reasons(seenFirst()), "Evacuated")
	waited := reasons(seenSecond())
	require.NotEmpty(t, waited)
	assert.Equal(t, "WaitingForSlot", waited[0], "%s waits for the slot first: %v", second, waited)
	assert.Equal(t, "Evacuated", waited[len(waited)-1])
	require.Eventually(t, func() bool {
		for _, v := range volumes(t, dyn) {
			if !meta.IsStatusConditionTrue(v.Status.Conditions, storagev1alpha1.ConditionReady) {
				return false
			}
			for _, rep := range v.Spec.Replicas {
				if rep.Node == first || rep.Node == second {
					return false
				}
			}
		}
		return true
	}, time.Minute, 200*time.Millisecond, "every volume Ready on the nodes that stay")
	r.settle()
}

// storageLabel selects the datastore's nodes in the evacuation test.
const storageLabel = "example.com/storage"

// evacuate runs the evacuation test, removing the busiest node with remove.
func evacuate(t *testing.T, remove func(context.Context, kubernetes.Interface, string) error) {
	env, r := evacuationDatastore(t, `{"spec":{"nodeSelector":{"`+storageLabel+`":"true"}}}`)
	dyn := dynamic.NewForConfigOrDie(env.Config)
	cs := kubernetes.NewForConfigOrDie(env.Config)
	ctx := t.Context()
	r.settle()

	// The node holding the most diskful replicas leaves.
	held := map[string][]string{}
	for _, v := range volumes(t, dyn) {
		for _, rep := range v.Spec.Replicas {
			if !rep.Diskless {
				held[rep.Node] = append(held[rep.Node], v.Name)
			}
		}
	}
	leaving := env.Nodes[0].Name
	for n, vs := range held {
		if len(vs) > len(held[leaving]) || len(vs) == len(held[leaving]) && n < leaving {
			leaving = n
		}
	}
	moving := held[leaving]
	require.NotEmpty(t, moving)
	moving = append(moving, apiVolume(t, dyn, leaving))
	generations := map[string]string{}
	for _, v := range volumes(t, dyn) {
		for _, rep := range v.Spec.Replicas {
			if rep.Diskless {
				continue
			}
			gen := dataGeneration(t, env, v.Name, rep.Node)
			require.NotEmpty(t, gen, "%s UpToDate on %s before", v.Name, rep.Node)
			if generations[v.Name] == "" {
				generations[v.Name] = gen
			}
			assert.Equal(t, generations[v.Name], gen, "%s in sync before", v.Name)
		}
	}

	seen := watchEvacuation(t, dyn, leaving)
	start := time.Now()
	require.NoError(t, remove(ctx, cs, leaving))
	require.Eventually(t, func() bool {
		_, err := dyn.Resource(gvrSatellites).Get(ctx, leaving, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	}, 5*time.Minute, 100*time.Millisecond, "the LinstorSatellite goes once evacuated")
	took := time.Since(start)
	t.Logf("evacuated %d volumes (%d with a diskful replica on %s) in %s", evacuatedVolumes, len(moving), leaving, took.Round(time.Millisecond))

	conds := seen()
	require.NotEmpty(t, conds, "EvacuationCompleted was reported")
	assert.Equal(t, metav1.ConditionFalse, conds[0].Status, "first: evacuating (%v)", conds)
	assert.Equal(t, "Evacuating", conds[0].Reason)
	last := conds[len(conds)-1]
	assert.Equal(t, metav1.ConditionTrue, last.Status, "then: completed (%v)", conds)
	assert.Equal(t, "Evacuated", last.Reason)
	t.Logf("EvacuationCompleted while moving: %s", conds[0].Message)

	// The pass that prunes the LinstorSatellite prunes the DaemonSet too,
	// one request later: look until both are gone.
	ds, err := render.SatelliteName(leaving)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, err := cs.AppsV1().DaemonSets(localup.Namespace).Get(ctx, ds, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	}, time.Minute, 100*time.Millisecond, "the node's satellite DaemonSet %s is gone", ds)
	require.Eventually(t, func() bool {
		topo, err := dyn.Resource(gvrTopo).Get(ctx, "default", metav1.GetOptions{})
		if err != nil {
			return false
		}
		nodes, _, _ := unstructured.NestedSlice(topo.Object, "spec", "nodes")
		return !slices.ContainsFunc(nodes, func(n any) bool { return n.(map[string]any)["name"] == leaving })
	}, time.Minute, 100*time.Millisecond, "%s left the StorageTopology", leaving)
	require.Eventually(t, func() bool {
		for _, v := range volumes(t, dyn) {
			if !meta.IsStatusConditionTrue(v.Status.Conditions, storagev1alpha1.ConditionReady) || len(v.Status.Replicas) != len(v.Spec.Replicas) {
				return false
			}
		}
		return true
	}, time.Minute, 200*time.Millisecond, "every volume Ready, no replica left behind")
	for _, v := range volumes(t, dyn) {
		diskful := 0
		for _, rep := range v.Spec.Replicas {
			assert.NotEqual(t, leaving, rep.Node, "%s still has a replica on %s", v.Name, leaving)
			if rep.Diskless {
				continue
			}
			diskful++
			assert.Equal(t, generations[v.Name], dataGeneration(t, env, v.Name, rep.Node), "%s on %s: the data it had before", v.Name, rep.Node)
		}
		assert.Equal(t, 2, diskful, "%s keeps two diskful replicas", v.Name)
	}
	r.settle()
}

// apiVolume makes a volume as the LINSTOR API makes them for the CSI driver
// (spec.manualPlacement, replicas written with Update under linstor-api,
// numbers left to the controller), with a replica on node and one on another
// node, and waits until it is Ready. The plan does not render such volumes:
// the loop writes their evacuation steps itself.
func apiVolume(t *testing.T, dyn dynamic.Interface, node string) string {
	t.Helper()
	ctx := t.Context()
	tmpl := volumes(t, dyn)[0]
	other, pool := "", ""
	for _, r := range tmpl.Spec.Replicas {
		if !r.Diskless {
			pool = r.StoragePool
			if r.Node != node {
				other = r.Node
			}
		}
	}
	require.NotEmpty(t, other)
	v := &storagev1alpha1.StorageVolume{
		TypeMeta:   metav1.TypeMeta{APIVersion: storagev1alpha1.GroupVersion.String(), Kind: "StorageVolume"},
		ObjectMeta: metav1.ObjectMeta{Name: "pvc-made-by-the-linstor-api"},
		Spec: storagev1alpha1.StorageVolumeSpec{ResourceGroup: tmpl.Spec.ResourceGroup, Volumes: tmpl.Spec.Volumes,
			LayerList: tmpl.Spec.LayerList, ManualPlacement: true},
	}
	for i, n := range []string{node, other} {
		v.Spec.Replicas = append(v.Spec.Replicas, storagev1alpha1.Replica{Node: n, StoragePool: pool, NodeID: int32(i)})
	}
	slices.SortFunc(v.Spec.Replicas, func(a, b storagev1alpha1.Replica) int { return strings.Compare(a.Node, b.Node) })
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(v)
	require.NoError(t, err)
	_, err = dyn.Resource(gvrVolumes).Create(ctx, &unstructured.Unstructured{Object: obj}, metav1.CreateOptions{FieldManager: "linstor-api"})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		for _, cur := range volumes(t, dyn) {
			if cur.Name == v.Name {
				return meta.IsStatusConditionTrue(cur.Status.Conditions, storagev1alpha1.ConditionReady)
			}
		}
		return false
	}, 2*time.Minute, 200*time.Millisecond, "the API-made volume Ready")
	return v.Name
}

func volumes(t *testing.T, dyn dynamic.Interface) []storagev1alpha1.StorageVolume {
	t.Helper()
	list, err := dyn.Resource(gvrVolumes).List(t.Context(), metav1.ListOptions{})
	require.NoError(t, err)
	out := make([]storagev1alpha1.StorageVolume, len(list.Items))
	for i := range list.Items {
		require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(list.Items[i].Object, &out[i]))
	}
	return out
}

// dataGeneration is the current data UUID of a volume's replica on node as
// the DRBD simulator's kernel holds it, "" unless it is UpToDate there.
func dataGeneration(t *testing.T, env *localup.Env, volume, node string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(env.Dir, "drbd-sim", "resources", volume, node+".json"))
	if err != nil {
		return ""
	}
	var state struct {
		Volumes []struct {
			MD *struct {
				State string `json:"state"`
				UUID  string `json:"uuid"`
			} `json:"md"`
		} `json:"volumes"`
	}
	require.NoError(t, json.Unmarshal(data, &state))
	if len(state.Volumes) == 0 || state.Volumes[0].MD == nil || state.Volumes[0].MD.State != "UpToDate" {
		return ""
	}
	return state.Volumes[0].MD.UUID
}

// watchEvacuation records every change of the LinstorSatellite's
// EvacuationCompleted condition (polled: each state lasts at least one
// pass) until the test ends; the returned function lists them so far.
func watchEvacuation(t *testing.T, dyn dynamic.Interface, node string) func() []metav1.Condition {
	t.Helper()
	var mu sync.Mutex
	var seen []metav1.Condition
	ctx := t.Context()
	go func() {
		for ctx.Err() == nil {
			time.Sleep(20 * time.Millisecond)
			obj, err := dyn.Resource(gvrSatellites).Get(ctx, node, metav1.GetOptions{})
			if err != nil {
				continue
			}
			c := condition(obj, "EvacuationCompleted")
			var cond metav1.Condition
			if len(c) == 0 || runtime.DefaultUnstructuredConverter.FromUnstructured(c, &cond) != nil {
				continue
			}
			mu.Lock()
			if len(seen) == 0 || seen[len(seen)-1].Status != cond.Status || seen[len(seen)-1].Message != cond.Message {
				seen = append(seen, cond)
			}
			mu.Unlock()
		}
	}()
	return func() []metav1.Condition {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(seen)
	}
}

// TestEvacuateInUse removes a node (no longer selected: its agent runs on)
// while one volume is in use there (DRBD Primary, as a Pod's mount makes
// it) and the node's evacuationStrategy has attachedVolumeReattachTimeout
// 6s: the replica there waits (WaitForDetach) until the timeout, then
// goes diskless (DropDisk): the agent detaches its disk and the volume
// stays Primary there over the network. EvacuationCompleted names the
// timeout. Once the volume is detached there the diskless replica leaves,
// its backing file is deleted, and the evacuation completes.
func TestEvacuateInUse(t *testing.T) {
	env, r := evacuationDatastore(t, `{"spec":{"nodeSelector":{"`+storageLabel+`":"true"}}}`)
	dyn := dynamic.NewForConfigOrDie(env.Config)
	cs := kubernetes.NewForConfigOrDie(env.Config)
	ctx := t.Context()
	for _, n := range env.Nodes {
		_, err := dyn.Resource(gvrSatConfs).Patch(ctx, "pool-"+n.Name, types.MergePatchType,
			[]byte(`{"spec":{"evacuationStrategy":{"attachedVolumeReattachTimeout":"6s"}}}`), metav1.PatchOptions{FieldManager: "test"})
		require.NoError(t, err)
	}
	r.settle()

	var leaving, used string
	var pool string
	for _, v := range volumes(t, dyn) {
		for _, rep := range v.Spec.Replicas {
			if !rep.Diskless && leaving == "" {
				leaving, used, pool = rep.Node, v.Name, rep.StoragePool
			}
		}
	}
	require.NotEmpty(t, leaving)
	node := env.Nodes[slices.IndexFunc(env.Nodes, func(n localup.Node) bool { return n.Name == leaving })]
	drbdadm := func(verb string) {
		discard := slog.New(slog.DiscardHandler)
		sim, err := drbdsim.New(drbdsim.Config{Dir: filepath.Join(env.Dir, "drbd-sim"), Node: leaving, Next: &hostexec.Local{Logger: discard}, Logger: discard})
		require.NoError(t, err)
		conf := filepath.Join(env.Dir, "nodes", leaving, "drbd.d", used+".res")
		_, err = sim.Run(ctx, hostexec.Write("drbdadm", "-c", conf, verb, used).InUTS(leaving))
		require.NoError(t, err, "drbdadm %s %s on %s", verb, used, leaving)
	}
	replica := func() (storagev1alpha1.Replica, storagev1alpha1.ReplicaStatus, bool) {
		for _, v := range volumes(t, dyn) {
			if v.Name != used {
				continue
			}
			spec := v.Spec.Replica(leaving)
			for _, st := range v.Status.Replicas {
				if st.Node == leaving && spec != nil {
					return *spec, st, true
				}
			}
		}
		return storagev1alpha1.Replica{}, storagev1alpha1.ReplicaStatus{}, false
	}
	drbdadm("primary")
	require.Eventually(t, func() bool { _, st, ok := replica(); return ok && st.InUse }, time.Minute, 100*time.Millisecond, "%s in use on %s", used, leaving)

	seen := watchEvacuation(t, dyn, leaving)
	start := time.Now()
	_, err := cs.CoreV1().Nodes().Patch(ctx, leaving, types.MergePatchType, []byte(`{"metadata":{"labels":{"`+storageLabel+`":"retired"}}}`), metav1.PatchOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		spec, st, ok := replica()
		return ok && spec.Diskless && st.InUse && len(st.Volumes) == 1 && st.Volumes[0].DiskState == "Diskless"
	}, 2*time.Minute, 100*time.Millisecond, "the replica of %s on %s went diskless, still in use", used, leaving)
	wentDiskless := time.Since(start)
	_, err = dyn.Resource(gvrSatellites).Get(ctx, leaving, metav1.GetOptions{})
	require.NoError(t, err, "the evacuation is not complete while the volume is in use there")
	files, _ := filepath.Glob(filepath.Join(node.PoolDir, used+"_00000.*"))
	assert.NotEmpty(t, files, "the detached backing file is kept while the replica stays (pool %s)", pool)
	// The step while diskless and in use: the operator's next pass says so
	// (detaching before it ran would skip the state, not fail it).
	disklessWait := "the diskless replica on " + leaving + " stays until the volume is detached there"
	require.Eventually(t, func() bool {
		return slices.ContainsFunc(seen(), func(c metav1.Condition) bool { return strings.Contains(c.Message, disklessWait) })
	}, time.Minute, 100*time.Millisecond, "EvacuationCompleted says %q while the volume is in use", disklessWait)

	drbdadm("secondary")
	require.Eventually(t, func() bool {
		_, err := dyn.Resource(gvrSatellites).Get(ctx, leaving, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	}, 2*time.Minute, 100*time.Millisecond, "the LinstorSatellite goes once the volume is detached there")
	t.Logf("%s in use on %s went diskless %s after the node left (timeout 6s); evacuated %s after", used, leaving, wentDiskless.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))

	var messages []string
	for _, c := range seen() {
		messages = append(messages, c.Message)
	}
	all := strings.Join(messages, "\n")
	// WaitForDetach shows only when the replacement is UpToDate before the
	// timeout (under load the sync can outlast 6 s); when it shows, it names
	// the timeout. The goldens and TestDetachWait cover it either way.
	for _, m := range messages {
		if strings.Contains(m, "the replica on "+leaving+" stays until the volume is detached there") {
			assert.Contains(t, m, "(attachedVolumeReattachTimeout 6s)", "WaitForDetach names the timeout")
		}
	}
	assert.Contains(t, all, "becomes diskless: the volume stays attached over the network until it is detached there (timed out after 6s waiting for its Pod to move)")
	require.Eventually(t, func() bool {
		for _, v := range volumes(t, dyn) {
			if !meta.IsStatusConditionTrue(v.Status.Conditions, storagev1alpha1.ConditionReady) || v.Spec.Replica(leaving) != nil {
				return false
			}
		}
		files, _ := filepath.Glob(filepath.Join(node.PoolDir, used+"_00000.*"))
		return len(files) == 0
	}, time.Minute, 200*time.Millisecond, "every volume Ready elsewhere, the backing file on %s deleted", leaving)
	r.settle()
}
