package linstorapi

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// TestPollWakesOnNotify: a wait ends at the change Notify reports, not at
// the next poll (an hour away here; the wait gives up after 5 s).
func TestPollWakesOnNotify(t *testing.T) {
	s := New(Options{Client: fake.NewClientBuilder().WithScheme(testScheme(t)).Build(), PollInterval: time.Hour, WaitTimeout: 5 * time.Second})
	var deployed atomic.Bool
	go func() {
		time.Sleep(20 * time.Millisecond)
		deployed.Store(true)
		s.Notify()
	}()
	err := s.poll(context.Background(), func() (bool, error) { return deployed.Load(), nil })
	require.NoError(t, err)
}
