package operator

import (
	"context"
	"reflect"
	"sync"
	"sync/atomic"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/cache"

	"github.com/piraeusctl/piraeusctl/apply"
)

// managedKinds are the rendered kinds watched for drift between resyncs
// (members of the ApplySet in the namespace): a deleted Service or an
// edited DaemonSet triggers a pass at once. Drift elsewhere is found at
// the next resync.
var managedKinds = []schema.GroupVersionKind{
	{Group: "apps", Version: "v1", Kind: "DaemonSet"},
	{Group: "apps", Version: "v1", Kind: "Deployment"},
	{Version: "v1", Kind: "Service"},
	{Version: "v1", Kind: "ServiceAccount"},
}

// watcher runs one informer per served input kind (cluster-wide) and per
// managed kind (the namespace's ApplySet members); relevant changes call
// onChange. Kinds not served yet (their CRD is applied by a pass) are
// started by a later start.
type watcher struct {
	mapper   *restmapper.DeferredDiscoveryRESTMapper
	inputs   dynamicinformer.DynamicSharedInformerFactory
	managed  dynamicinformer.DynamicSharedInformerFactory
	kinds    []apply.ClusterKind
	onChange func()
	// evacuating: a pass found an evacuation under way, so a StorageVolume
	// whose replicas' status changed may let its next step go (the status
	// of other kinds never changes a plan).
	evacuating atomic.Bool
	mu         sync.Mutex
	started    map[schema.GroupVersionKind]bool
}

func newWatcher(opts Options, dyn dynamic.Interface, onChange func()) (*watcher, error) {
	disc, err := discovery.NewDiscoveryClientForConfig(opts.Config)
	if err != nil {
		return nil, err
	}
	selector := apply.LabelPartOf + "=" + apply.ApplySetID(opts.ApplySetName, opts.Namespace, schema.GroupKind{Kind: "Secret"})
	return &watcher{
		mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc)),
		inputs: dynamicinformer.NewDynamicSharedInformerFactory(dyn, 0),
		managed: dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, 0, opts.Namespace,
			func(o *metav1.ListOptions) { o.LabelSelector = selector }),
		kinds:    opts.Kinds,
		onChange: onChange,
		started:  map[schema.GroupVersionKind]bool{},
	}, nil
}

// start starts the informers of kinds served now and not watched yet.
func (w *watcher) start(ctx context.Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	missing := false
	for _, k := range w.kinds {
		missing = w.watch(w.inputs, k.GroupVersionKind) || missing
	}
	for _, gvk := range managedKinds {
		missing = w.watch(w.managed, gvk) || missing
	}
	w.inputs.Start(ctx.Done())
	w.managed.Start(ctx.Done())
	if missing {
		w.mapper.Reset() // look again next time
	}
}

// watch adds an informer for gvk; true when the kind is not served.
func (w *watcher) watch(f dynamicinformer.DynamicSharedInformerFactory, gvk schema.GroupVersionKind) bool {
	if w.started[gvk] {
		return false
	}
	mapping, err := w.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return meta.IsNoMatchError(err)
	}
	w.started[gvk] = true
	_, _ = f.ForResource(mapping.Resource).Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if !w.apiOwned(obj) {
				w.onChange()
			}
		},
		DeleteFunc: func(obj any) {
			if !w.apiOwned(obj) {
				w.onChange()
			}
		},
		UpdateFunc: func(old, cur any) {
			if w.apiOwned(cur) {
				return
			}
			if relevant(old, cur) || w.evacuating.Load() && replicasChanged(old, cur) {
				w.onChange()
			}
		},
	})
	return false
}

// apiOwned reports whether an event is about a StorageVolume made through
// the LINSTOR API (spec.manualPlacement) while no evacuation is under way:
// the plan does not render such volumes, so their creation, changes and
// deletion cannot change it, and a burst of CSI volumes would otherwise
// render the plan again and again for nothing (the periodic resync still
// sees them). During an evacuation they count: their steps are the pass's.
func (w *watcher) apiOwned(obj any) bool {
	return !w.evacuating.Load() && madeThroughAPI(obj)
}

func madeThroughAPI(obj any) bool {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok || u.GetKind() != "StorageVolume" {
		return false
	}
	manual, _, _ := unstructured.NestedBool(u.Object, "spec", "manualPlacement")
	return manual
}

// relevant reports whether an update can change the plan or be drift: a
// change outside status and server-managed metadata (Node addresses, which
// the plan reads, count too).
func relevant(old, cur any) bool {
	a, okA := old.(*unstructured.Unstructured)
	b, okB := cur.(*unstructured.Unstructured)
	if !okA || !okB {
		return true
	}
	if a.GetKind() == "Node" {
		addrA, _, _ := unstructured.NestedFieldNoCopy(a.Object, "status", "addresses")
		addrB, _, _ := unstructured.NestedFieldNoCopy(b.Object, "status", "addresses")
		if !reflect.DeepEqual(addrA, addrB) {
			return true
		}
	}
	return !reflect.DeepEqual(apply.ChangedFields(a, b), []string(nil))
}

// replicasChanged reports whether a StorageVolume's replica status changed.
func replicasChanged(old, cur any) bool {
	a, okA := old.(*unstructured.Unstructured)
	b, okB := cur.(*unstructured.Unstructured)
	if !okA || !okB || b.GetKind() != "StorageVolume" {
		return false
	}
	ra, _, _ := unstructured.NestedFieldNoCopy(a.Object, "status", "replicas")
	rb, _, _ := unstructured.NestedFieldNoCopy(b.Object, "status", "replicas")
	return !reflect.DeepEqual(ra, rb)
}
