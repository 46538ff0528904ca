package controller

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/piraeusctl/piraeusctl/api/crds"
	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	piraeusv1 "github.com/piraeusctl/piraeusctl/api/v1"
	"github.com/piraeusctl/piraeusctl/internal/kubetest"
	"github.com/piraeusctl/piraeusctl/plan"
)

// BenchmarkTenThousandVolumes measures the controller with 10 000
// StorageVolumes on 40 nodes (three replicas each), its agents faked at the
// gRPC boundary: the time to place, allocate, tell and report them all
// Ready from scratch and the API writes that took per volume; then, for a
// freshly started controller over the converged volumes, the full-resync
// time and the Go heap it holds; and the API writes of an idle resync
// (must be 0).
func BenchmarkTenThousandVolumes(b *testing.B) { benchmarkVolumes(b, 40, 10000) }

// BenchmarkThousandVolumes is the same with 1000 volumes on 12 nodes.
func BenchmarkThousandVolumes(b *testing.B) { benchmarkVolumes(b, 12, 1000) }

func benchmarkVolumes(b *testing.B, nodes, volumes int) {
	kube := kubetest.Start(b)
	cfg := kube.Config(b)
	c := benchClient(b, cfg)
	installCRDs(b, cfg, c)
	require.NoError(b, c.Create(b.Context(), benchTopology(nodes)))
	createVolumes(b, c, volumes)
	agents := newFakeAgents()
	for b.Loop() {
		start := time.Now()
		stop, ctl := startController(b, cfg, agents.dialer())
		waitAllReady(b, ctl, volumes, time.Hour)
		b.ReportMetric(time.Since(start).Seconds(), "s-to-all-ready")
		b.ReportMetric(apiWrites(ctl)/float64(volumes), "writes-per-volume")
		b.ReportMetric(testutil.ToFloat64(ctl.metrics.conflicts)/float64(volumes), "conflicts-per-volume")
		stop()

		runtime.GC()
		before := agents.applies()
		start = time.Now()
		stop, ctl = startController(b, cfg, agents.dialer())
		waitIdle(b, ctl, agents, before+nodes)
		b.ReportMetric(time.Since(start).Seconds(), "s-full-resync")
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "MiB-heap")
		b.ReportMetric(rssMiB(), "MiB-rss-process")

		writes := apiWrites(ctl)
		ctl.resyncAll(ctl.ctx)
		waitIdle(b, ctl, agents, 0)
		b.ReportMetric(apiWrites(ctl)-writes, "writes-per-idle-resync")
		stop()
	}
}

// apiWrites is the controller's count of API writes of every kind.
func apiWrites(ctl *Controller) float64 {
	n := 0.0
	for _, kind := range []string{"*v1alpha1.StorageVolume", "*v1alpha1.StorageTopology", "*v1alpha1.NodeAllocation"} {
		n += testutil.ToFloat64(ctl.metrics.apiWrites.WithLabelValues(kind))
	}
	return n
}

func benchClient(b *testing.B, cfg *rest.Config) client.Client {
	scheme, err := Scheme()
	require.NoError(b, err)
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	require.NoError(b, err)
	return c
}

// installCRDs creates the shipped CRDs and waits until they are established.
func installCRDs(b *testing.B, cfg *rest.Config, c client.Client) {
	all, err := crds.All()
	require.NoError(b, err)
	for i := range all {
		require.NoError(b, c.Create(b.Context(), &all[i]))
	}
	require.NoError(b, wait.PollUntilContextTimeout(b.Context(), 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		for _, crd := range all {
			got := &apiextensionsv1.CustomResourceDefinition{}
			if err := c.Get(ctx, client.ObjectKey{Name: crd.Name}, got); err != nil {
				return false, nil
			}
			established := false
			for _, cond := range got.Status.Conditions {
				established = established || (cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue)
			}
			if !established {
				return false, nil
			}
		}
		return true, nil
	}))
	_ = cfg
}

func benchTopology(nodes int) *storagev1alpha1.StorageTopology {
	t := &storagev1alpha1.StorageTopology{ObjectMeta: metav1.ObjectMeta{Name: plan.TopologyName}}
	for i := range nodes {
		t.Spec.Nodes = append(t.Spec.Nodes, storagev1alpha1.TopologyNode{
			Name:         fmt.Sprintf("node-%03d", i),
			Addresses:    []storagev1alpha1.NodeAddress{{Type: "InternalIP", Address: fmt.Sprintf("127.1.%d.%d", i/200, i%200+1)}},
			StoragePools: []storagev1alpha1.StoragePool{{Name: "thin", ProviderKind: piraeusv1.ProviderFileThin, Directory: "/var/lib/piraeus/thin"}},
		})
	}
	t.Spec.ResourceGroups = []storagev1alpha1.ResourceGroup{{Name: "bench", StorageClasses: []string{"bench"}, PlaceCount: 3, LayerList: []string{"drbd", "storage"}}}
	return t
}

// createVolumes creates n unplaced volumes from 16 goroutines.
func createVolumes(b *testing.B, c client.Client, n int) {
	var wg sync.WaitGroup
	next := make(chan int)
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			for i := range next {
				v := &storagev1alpha1.StorageVolume{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pvc-%05d", i)},
					Spec: storagev1alpha1.StorageVolumeSpec{ResourceGroup: "bench", Volumes: []storagev1alpha1.VolumeDefinition{{SizeBytes: 1 << 30}}}}
				if err := c.Create(context.Background(), v); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(b, err)
	}
}

// startController runs the controller in-process; stop ends it.
func startController(b *testing.B, cfg *rest.Config, dial Dialer) (stop func(), ctl *Controller) {
	opts := DefaultOptions()
	opts.Config, opts.Dialer, opts.LeaderElection = cfg, dial, false
	opts.HealthAddr, opts.MetricsAddr, opts.Resync = "0", "0", time.Hour
	opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	ctx, cancel := context.WithCancel(b.Context())
	got := make(chan *Controller, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, opts, func(c *Controller) { got <- c }) }()
	select {
	case ctl = <-got:
	case err := <-done:
		require.FailNow(b, fmt.Sprintf("controller: %v", err))
	}
	for ctl.ctx == nil {
		time.Sleep(10 * time.Millisecond)
	}
	return func() { cancel(); <-done }, ctl
}

// waitAllReady waits until the controller's cache shows n volumes Ready
// (reading the cache keeps the polling off the API server), logging the
// progress every minute.
func waitAllReady(b *testing.B, ctl *Controller, n int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	logged := time.Now()
	ready := 0
	for time.Now().Before(deadline) {
		list := &storagev1alpha1.StorageVolumeList{}
		require.NoError(b, ctl.client.List(b.Context(), list, client.UnsafeDisableDeepCopy))
		ready = 0
		for i := range list.Items {
			if volumeState(&list.Items[i]) == "ready" {
				ready++
			}
		}
		if ready == n {
			return
		}
		if time.Since(logged) > time.Minute {
			b.Logf("%d of %d volumes Ready, %.0f API writes", ready, n, apiWrites(ctl))
			logged = time.Now()
		}
		time.Sleep(time.Second)
	}
	require.FailNow(b, fmt.Sprintf("%d of %d volumes Ready after %s", ready, n, timeout))
}

// waitIdle waits until the fake agents got at least minApplies calls and
// both queues stayed empty for a second.
func waitIdle(b *testing.B, ctl *Controller, agents *fakeAgents, minApplies int) {
	quiet := 0
	for deadline := time.Now().Add(30 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if agents.applies() >= minApplies && ctl.volumes.Len() == 0 && ctl.nodes.Len() == 0 {
			quiet++
			if quiet >= 10 {
				return
			}
			continue
		}
		quiet = 0
	}
	require.FailNow(b, "controller not idle")
}

// rssMiB is this process's resident set (the benchmark's API clients included).
func rssMiB() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}
