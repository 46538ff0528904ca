package hacontroller

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
)

// TestFailOverOnAPIServer: node-b's controller sees node-a lost on pvc-1
// and pvc-2. pvc-1's Pod on node-a is evicted (node Ready), then deleted
// with grace 0 once node-a is NotReady, and its VolumeAttachment goes; the
// Pod of pvc-2 carries the ignore annotation, so pvc-2 is left alone, as
// is everything on other nodes. node-a's own controller, when it comes
// back, removes the lost-quorum taint, and sets and removes the
// force-io-error taint as its resource forces I/O errors and stops.
func TestFailOverOnAPIServer(t *testing.T) {
	cfg := kube.Config(t)
	const ns = "failover"
	f := newKubeFixture(t, cfg, ns)
	admin := f.c
	for _, n := range []string{"node-a", "node-b", "node-c", "node-d"} {
		f.node(n, true)
	}
	f.volume("pvc-1", "data-web-0")
	f.volume("pvc-2", "data-db-0")
	f.pod("web-0", "node-a", "data-web-0")
	f.pod("web-1", "node-b", "data-web-0")
	f.pod("other-0", "node-a", "")
	f.pod("db-0", "node-a", "data-db-0", func(p *corev1.Pod) {
		p.Annotations = map[string]string{AnnotationIgnoreFailOver: ""}
	})
	f.attachment("csi-a", "pvc-1", "node-a")
	f.attachment("csi-b", "pvc-1", "node-b")
	f.attachment("csi-db", "pvc-2", "node-a")

	var log writeLog
	c, src := startController(t, log.wrap(cfg), "node-b", time.Second, newShowHost("pvc-1", "pvc-2"))
	src.feed(t, append(append(dumpLines("pvc-1", "node-a", "Primary"), dumpLines("pvc-2", "node-a", "Primary")...), "exists -")...)
	eventually(t, "options read", func() bool {
		r, _ := c.Tracker().Resource("pvc-2")
		return r.OptionsKnown
	})
	time.Sleep(300 * time.Millisecond)
	w := log.objectWrites()
	require.Len(t, w, 0, "healthy state, but the controller wrote %v", w)

	// A flap shorter than the fail-over timeout does nothing.
	src.feed(t, lossLines("pvc-1", "node-a")...)
	src.feed(t, "change connection name:pvc-1 peer-node-id:0 conn-name:node-a connection:Connected role:Primary")
	time.Sleep(1500 * time.Millisecond)
	w = log.objectWrites()
	require.Len(t, w, 0, "a flap shorter than the timeout made the controller write %v", w)

	lost := time.Now()
	src.feed(t, append(lossLines("pvc-1", "node-a"), lossLines("pvc-2", "node-a")...)...)
	eventually(t, "web-0 evicted and csi-a deleted", func() bool {
		return podState(t, admin, ns, "web-0") == "terminating" &&
			!exists(t, func() error {
				_, err := admin.StorageV1().VolumeAttachments().Get(t.Context(), "csi-a", metav1.GetOptions{})
				return err
			})
	})
	d := time.Since(lost)
	assert.False(t, d < time.Second, "acted after %s, before the 1 s fail-over timeout", d)
	got := taintKeysOf(t, admin, "node-a")
	assert.True(t, slices.Contains(got, TaintLostQuorum+":NoSchedule"), "node-a taints %v, want %s", got, TaintLostQuorum)

	// The kubelet of node-a never confirms: once node-a is NotReady the Pod
	// is deleted with grace 0.
	f.node("node-a", false)
	eventually(t, "web-0 deleted", func() bool { return podState(t, admin, ns, "web-0") == "gone" })

	want := []string{
		"PUT /api/v1/nodes/node-a",
		"POST /api/v1/namespaces/failover/pods/web-0/eviction",
		"DELETE /apis/storage.k8s.io/v1/volumeattachments/csi-a",
		"DELETE /api/v1/namespaces/failover/pods/web-0",
	}
	got = log.objectWrites()
	assert.Equal(t, want, got, "writes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	for _, name := range []string{"web-1", "other-0", "db-0"} {
		s := podState(t, admin, ns, name)
		assert.Equal(t, "running", s, "pod %s is %s, want untouched", name, s)
	}
	for _, name := range []string{"csi-b", "csi-db"} {
		assert.True(t, exists(t, func() error {
			_, err := admin.StorageV1().VolumeAttachments().Get(t.Context(), name, metav1.GetOptions{})
			return err
		}), "VolumeAttachment %s was deleted", name)
	}
	for _, n := range []string{"node-b", "node-c", "node-d"} {
		got := taintKeysOf(t, admin, n)
		assert.Len(t, got, 0, "node %s tainted %v", n, got)
	}
	eventually(t, "events recorded", func() bool {
		return len(eventReasons(t, admin, ns)) >= 1 && len(eventReasons(t, admin, "default")) >= 2
	})
	wantEvents := []string{"Pod/web-0 VolumeWithoutQuorum/EvictedPod"}
	got = eventReasons(t, admin, ns)
	assert.Equal(t, wantEvents, got, "events in %s: %v, want %v", ns, got, wantEvents)
	for _, want := range []string{"Node/node-a NodeStorageQuorumLost/TaintedNode", "VolumeAttachment/csi-a VolumeWithoutQuorum/VolumeAttachmentDeleted"} {
		got := eventReasons(t, admin, "default")
		assert.True(t, slices.Contains(got, want), "cluster events %v lack %q", got, want)
	}

	// node-a comes back: its own controller sees every resource with
	// quorum and removes the taint; then pvc-1 forces I/O errors for a
	// while, which taints and untaints force-io-error.
	f.node("node-a", true)
	_, srcA := startController(t, cfg, "node-a", time.Second, newShowHost("pvc-1", "pvc-2"))
	srcA.feed(t, append(dumpLines("pvc-1", "node-b", "Primary"), "exists -")...)
	eventually(t, "node-a untainted by its own controller", func() bool { return len(taintKeysOf(t, admin, "node-a")) == 0 })
	srcA.feed(t, "change resource name:pvc-1 force-io-failures:yes")
	eventually(t, "node-a tainted force-io-error", func() bool {
		return slices.Equal(taintKeysOf(t, admin, "node-a"), []string{TaintForceIOError + ":NoSchedule"})
	})
	srcA.feed(t, "change resource name:pvc-1 force-io-failures:no")
	eventually(t, "force-io-error taint removed", func() bool { return len(taintKeysOf(t, admin, "node-a")) == 0 })
}

// TestEvictionBlockedByPDBFallsBack: a PodDisruptionBudget refuses the
// eviction; the controller retries with growing pauses (no busy loop) and
// deletes the Pod with grace 0 as soon as the Node is NotReady.
func TestEvictionBlockedByPDBFallsBack(t *testing.T) {
	cfg := kube.Config(t)
	const ns = "pdb"
	f := newKubeFixture(t, cfg, ns)
	admin := f.c
	f.node("node-p", true)
	f.node("node-q", true)
	f.volume("pvc-p", "data-p")
	f.pod("app-0", "node-p", "data-p", func(p *corev1.Pod) { p.Labels = map[string]string{"app": "pdb"} })
	f.attachment("csi-p", "pvc-p", "node-p")
	one := intstr.FromInt32(1)
	f.must(admin.PolicyV1().PodDisruptionBudgets(ns).Create(t.Context(), &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "app"},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "pdb"}}},
	}, metav1.CreateOptions{}))

	var log writeLog
	c, src := startController(t, log.wrap(cfg), "node-q", 0, newShowHost("pvc-p"))
	src.feed(t, append(dumpLines("pvc-p", "node-p", "Primary"), "exists -")...)
	eventually(t, "options read", func() bool { r, _ := c.Tracker().Resource("pvc-p"); return r.OptionsKnown })
	src.feed(t, lossLines("pvc-p", "node-p")...)
	evictions := func() int {
		n := 0
		for _, w := range log.objectWrites() {
			if strings.HasSuffix(w, "/eviction") {
				n++
			}
		}
		return n
	}
	eventually(t, "two refused evictions", func() bool { return evictions() >= 2 })
	time.Sleep(time.Second)
	n := evictions()
	assert.False(t, n > 6, "%d eviction attempts in about 1.5 s: retries must back off", n)
	s := podState(t, admin, ns, "app-0")
	require.Equal(t, "running", s, "pod is %s while the PDB blocks its eviction", s)
	require.True(t, vaExists(t, admin, "csi-p"), "VolumeAttachment deleted while the Pod still runs there")
	f.node("node-p", false)
	eventually(t, "grace-0 delete after NotReady", func() bool { return podState(t, admin, ns, "app-0") == "gone" })
	eventually(t, "attachment deleted", func() bool { return !vaExists(t, admin, "csi-p") })
}

func vaExists(t testing.TB, c kubernetes.Interface, name string) bool {
	return exists(t, func() error {
		_, err := c.StorageV1().VolumeAttachments().Get(t.Context(), name, metav1.GetOptions{})
		return err
	})
}
