package hacontroller

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/agent/drbd"
)

// BenchmarkTrackerApply: events2 decoding, parse and fold, per line.
func BenchmarkTrackerApply(b *testing.B) {
	var lines []string
	for _, file := range []string{"testdata/events2/drbd9-peer-lost.txt", "testdata/events2/drbd9-quorum-lost.txt"} {
		data, err := os.ReadFile(file)
		require.NoError(b, err)
		lines = append(lines, strings.Split(strings.TrimSpace(string(data)), "\n")...)
	}
	size := 0
	for _, l := range lines {
		size += len(l) + 1
	}
	b.SetBytes(int64(size))
	at := time.Now()
	for b.Loop() {
		tr := NewTracker()
		tr.BeginResync()
		for _, l := range lines {
			ev, err := drbd.ParseEvent(l)
			require.NoError(b, err)
			_, err = tr.Apply(ev, at)
			require.NoError(b, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(lines)), "ns/line")
}

// BenchmarkDecideResource: one fail-over decision (taint, evict, delete the
// attachment) for a volume with its Pods and attachments.
func BenchmarkDecideResource(b *testing.B) {
	now := t0.Add(time.Minute)
	res := resState(now, "Secondary", true, "majority", connSpec{lostNode, "Connecting", "Unknown", 10 * time.Second},
		connSpec{"node-c", Connected, "Secondary", 0})
	vol := Volume{PV: pv(pvName, resName, claimName), PVC: pvc(claimName, pvName),
		Pods:        []*corev1.Pod{pod("web-0", lostNode), pod("web-1", self)},
		Attachments: []*storagev1.VolumeAttachment{attachment("csi-a", lostNode), attachment("csi-b", self)}}
	cl := cluster(node(lostNode, true), node(self, true), node("node-c", true))
	cfg := testConfig()
	for b.Loop() {
		d := DecideResource(cfg, now, res, vol, cl)
		require.Len(b, d.Actions, 3, "actions %v", d.Actions)
	}
}

// BenchmarkLineToEviction: on the real API server, from writing the events2
// line that reports a peer lost to the eviction request reaching the API
// server (fail-over timeout 0: the goal is this plus the timeout).
// Reports p50 and p99 over the iterations.
func BenchmarkLineToEviction(b *testing.B) {
	cfg := kube.Config(b)
	ns := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	f := newKubeFixture(b, cfg, ns)
	f.node("bench-a", true)
	f.node("bench-b", true)
	evicted := make(chan string, 16)
	var log writeLog
	log.notify = func(method, path string, status int) {
		if method == "POST" && strings.HasSuffix(path, "/eviction") {
			evicted <- fmt.Sprintf("%s %d", path, status)
		}
	}
	host := newShowHost()
	c, src := startController(b, log.wrap(cfg), "bench-b", 0, host)
	src.feed(b, "exists -")
	eventually(b, "synced", c.Tracker().Synced)
	var lat []time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		res := fmt.Sprintf("%s-%d", ns, i)
		f.volume(res, "data-"+res)
		f.pod("pod-"+res, "bench-a", "data-"+res)
		host.add(res)
		src.feed(b,
			"create resource name:"+res+" role:Secondary suspended:no force-io-failures:no",
			"create device name:"+res+" volume:0 minor:1000 disk:UpToDate client:no quorum:yes",
			"create connection name:"+res+" peer-node-id:0 conn-name:bench-a connection:Connected role:Primary")
		eventually(b, "resource known with its Pod", func() bool {
			r, _ := c.Tracker().Resource(res)
			return r.OptionsKnown && len(c.volume(res).Pods) == 1
		})
		b.StartTimer()
		start := time.Now()
		src.feed(b, "change connection name:"+res+" peer-node-id:0 conn-name:bench-a connection:NetworkFailure role:Unknown")
	wait:
		for {
			select {
			case p := <-evicted:
				if strings.Contains(p, "/pod-"+res+"/") {
					lat = append(lat, time.Since(start))
					break wait
				}
				b.Logf("another eviction request while waiting for pod-%s: %s", res, p)
			case <-time.After(30 * time.Second):
				require.FailNow(b, "no eviction within 30 s")
			}
		}
		b.StopTimer()
		err := f.c.CoreV1().Pods(ns).Delete(b.Context(), "pod-"+res, *metav1.NewDeleteOptions(0))
		require.False(b, err != nil && !apierrors.IsNotFound(err), "%v", err)
		b.StartTimer()
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
}
