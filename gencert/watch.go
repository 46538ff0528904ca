package gencert

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// watchSatellites returns a channel that receives when a satellite
// DaemonSet comes, goes, or changes its node or Secret, so that a new node's
// certificate exists within a pass rather than a resync; nil when internal
// TLS is off. Status updates of the DaemonSets do not count.
func (g *Gencert) watchSatellites(ctx context.Context) (<-chan struct{}, error) {
	if !g.opts.Internal.Enabled {
		return nil, nil
	}
	changed := make(chan struct{}, 1)
	signal := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	factory := informers.NewSharedInformerFactoryWithOptions(g.client, 0,
		informers.WithNamespace(g.opts.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = g.opts.Internal.SatelliteSelector }))
	inf := factory.Apps().V1().DaemonSets().Informer()
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { signal() },
		DeleteFunc: func(any) { signal() },
		UpdateFunc: func(oldObj, newObj any) {
			o, ok1 := oldObj.(*appsv1.DaemonSet)
			n, ok2 := newObj.(*appsv1.DaemonSet)
			if !ok1 || !ok2 {
				signal()
				return
			}
			so, _ := satelliteOf(o)
			sn, _ := satelliteOf(n)
			if so != sn {
				signal()
			}
		},
	})
	if err != nil {
		return nil, err
	}
	factory.Start(ctx.Done())
	return changed, nil
}
