package controller_test

import (
	"fmt"
	"slices"
	"time"

	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/controller-runtime/pkg/client"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	"github.com/piraeusctl/piraeusctl/internal/localup"
)

// BenchmarkCreateToReady100 creates 100 volume objects at once on
// hack/local-up.sh's datastore (three agents, FILE_THIN pools on loop
// devices, DRBD simulated; half three replicas, half two and a
// tie-breaker) and reports the create → Ready latency of each, p50 and
// p99 (the status is polled every 200 ms), then deletes them and waits
// until they are gone.
func BenchmarkCreateToReady100(b *testing.B) {
	env := localDatastore(b, localup.Options{})
	c := kubeClient(b, env)
	round := 0
	for b.Loop() {
		round++
		vols, names := mixedVolumes(fmt.Sprintf("bench-%d", round), 100)
		start := time.Now()
		createConcurrently(b, c, vols)
		done := waitVolumes(b, c, names, 15*time.Minute, "Ready", ready)
		lat := make([]float64, 0, len(done))
		for _, at := range done {
			lat = append(lat, at.Sub(start).Seconds())
		}
		slices.Sort(lat)
		b.ReportMetric(lat[len(lat)/2], "s-p50")
		b.ReportMetric(lat[len(lat)*99/100], "s-p99")
		b.StopTimer()
		for _, v := range vols {
			require.NoError(b, client.IgnoreNotFound(c.Delete(b.Context(), v)))
		}
		waitGone(b, c, names, 15*time.Minute)
		b.StartTimer()
	}
}

// waitGone waits until none of the named volumes exists.
func waitGone(t testing.TB, c client.Client, names []string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		list := &storagev1alpha1.StorageVolumeList{}
		require.NoError(t, c.List(t.Context(), list))
		if !slices.ContainsFunc(list.Items, func(v storagev1alpha1.StorageVolume) bool { return slices.Contains(names, v.Name) }) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	require.FailNow(t, fmt.Sprintf("volumes still there after %s", timeout))
}
