package operator_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/piraeusctl/piraeusctl/internal/kubetest"
	"github.com/piraeusctl/piraeusctl/internal/localup"
	"github.com/piraeusctl/piraeusctl/operator"
	"github.com/piraeusctl/piraeusctl/render"
)

// BenchmarkIdlePass is one pass over an unchanged local datastore (3
// nodes, 58 objects) on the real API server: read the inputs, plan,
// compare every object, write status only if it changed. writes/op is
// counted at the HTTP boundary and must be 0.
func BenchmarkIdlePass(b *testing.B) {
	env := localDatastore(b)
	cfg, counter := kubetest.Counting(env.Config)
	opts := operator.DefaultOptions()
	opts.Config, opts.Namespace = cfg, localup.Namespace
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	loop, err := operator.New(opts)
	require.NoError(b, err)
	ctx := b.Context()
	for range 2 { // the first pass co-owns what `piraeusctl apply` applied
		require.NoError(b, loop.Pass(ctx).Err())
	}
	counter.Reset()
	passes := 0
	for b.Loop() {
		require.NoError(b, loop.Pass(ctx).Err())
		passes++
	}
	b.ReportMetric(float64(len(counter.Writes()))/float64(passes), "writes/op")
	b.ReportMetric(float64(counter.Total())/float64(passes), "requests/op")
}

// BenchmarkNodeAdded is the latency from a Node created in the API server
// to its satellite DaemonSet applied by a running loop (default debounce).
func BenchmarkNodeAdded(b *testing.B) {
	env := localDatastore(b)
	cs := kubernetes.NewForConfigOrDie(env.Config)
	opts := operator.DefaultOptions()
	opts.Config, opts.Namespace = env.Config, localup.Namespace
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	passes := make(chan operator.Outcome, 100)
	opts.OnPass = func(o operator.Outcome) { passes <- o }
	loop, err := operator.New(opts)
	require.NoError(b, err)
	ctx, cancel := context.WithCancel(b.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = loop.Run(ctx) }()
	defer func() { cancel(); <-done }()
	<-passes
	var total time.Duration
	n := 0
	for b.Loop() {
		n++
		name := fmt.Sprintf("bench-%d", n)
		start := time.Now()
		_, err := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name,
			Labels: map[string]string{"kubernetes.io/hostname": name}}}, metav1.CreateOptions{})
		require.NoError(b, err)
		ds, err := render.SatelliteName(name)
		require.NoError(b, err)
		for {
			if _, err := cs.AppsV1().DaemonSets(localup.Namespace).Get(ctx, ds, metav1.GetOptions{}); err == nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(n), "ms/node")
}
