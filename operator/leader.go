package operator

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// LeaseName is the Lease the operators elect the one that converges with.
const LeaseName = "piraeus-operator"

// Election configures RunElected.
type Election struct {
	// Client takes and renews the Lease (its writes are the election's,
	// not the loop's).
	Client kubernetes.Interface
	// Namespace and Name of the Lease (default LeaseName).
	Namespace, Name string
	// Identity of this replica (its Pod name).
	Identity string
	// LeaseDuration, RenewDeadline and RetryPeriod as client-go's elector
	// takes them (defaults 15s, 10s, 2s).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
}

// RunElected runs the loop only while this replica holds the Lease, so
// that of several operators exactly one writes; it returns when ctx ends,
// and with an error when the Lease is lost (the process should restart,
// as controller-runtime's managers do).
func (l *Loop) RunElected(ctx context.Context, e Election) error {
	if e.Name == "" {
		e.Name = LeaseName
	}
	if e.LeaseDuration == 0 {
		e.LeaseDuration, e.RenewDeadline, e.RetryPeriod = 15*time.Second, 10*time.Second, 2*time.Second
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: e.Namespace, Name: e.Name},
		Client:     e.Client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: e.Identity},
	}
	lost := false
	var runErr error
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   e.LeaseDuration,
		RenewDeadline:   e.RenewDeadline,
		RetryPeriod:     e.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            e.Name,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				l.log.Info("leading: converging", "lease", e.Namespace+"/"+e.Name, "identity", e.Identity)
				runErr = l.Run(ctx)
			},
			OnStoppedLeading: func() { lost = ctx.Err() == nil },
		},
	})
	if err != nil {
		return fmt.Errorf("operator: leader election: %w", err)
	}
	le.Run(ctx)
	if lost {
		return fmt.Errorf("operator: lost the Lease %s/%s", e.Namespace, e.Name)
	}
	return runErr
}
