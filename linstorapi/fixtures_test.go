package linstorapi

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	lapi "github.com/LINBIT/golinstor/client"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	piraeusv1 "github.com/piraeusctl/piraeusctl/api/v1"
	"github.com/piraeusctl/piraeusctl/plan"
)

// testTopology has three nodes (zones a, b, c) with a 10 GiB thin file
// pool each, all connected, and two groups from StorageClasses.
func testTopology() *storagev1alpha1.StorageTopology {
	node := func(name, ip, zone string) storagev1alpha1.TopologyNode {
		return storagev1alpha1.TopologyNode{
			Name:       name,
			Labels:     map[string]string{"topology.kubernetes.io/zone": zone},
			Properties: map[string]string{"Aux/topology/kubernetes.io/hostname": name, "Aux/topology/topology.kubernetes.io/zone": zone},
			Addresses:  []storagev1alpha1.NodeAddress{{Type: "InternalIP", Address: ip}},
			StoragePools: []storagev1alpha1.StoragePool{
				{Name: "thin", ProviderKind: piraeusv1.ProviderFileThin, Directory: "/var/lib/piraeus/thin"},
			},
		}
	}
	status := func(name string) storagev1alpha1.NodeStatus {
		return storagev1alpha1.NodeStatus{Name: name, Connected: true, Pools: []storagev1alpha1.PoolStatus{{Name: "thin", CapacityBytes: 10 << 30, FreeBytes: 9 << 30}}}
	}
	return &storagev1alpha1.StorageTopology{
		ObjectMeta: metav1.ObjectMeta{Name: plan.TopologyName},
		Spec: storagev1alpha1.StorageTopologySpec{
			Allocation: storagev1alpha1.AllocationSettings{PortMin: 7000, PortMax: 7999, MinorMin: 1000, MinorMax: 1048575},
			Nodes:      []storagev1alpha1.TopologyNode{node("n1", "192.0.2.1", "a"), node("n2", "192.0.2.2", "b"), node("n3", "192.0.2.3", "c")},
			ResourceGroups: []storagev1alpha1.ResourceGroup{
				{Name: "replicated", StorageClasses: []string{"replicated"}, PlaceCount: 2, StoragePools: []string{"thin"}, LayerList: []string{"drbd", "storage"}},
				{Name: "local", StorageClasses: []string{"local"}, PlaceCount: 1, StoragePools: []string{"thin"}, LayerList: []string{"storage"}},
			},
		},
		Status: storagev1alpha1.StorageTopologyStatus{Nodes: []storagev1alpha1.NodeStatus{status("n1"), status("n2"), status("n3")}},
	}
}

func testScheme(t testing.TB) *runtime.Scheme {
	s := runtime.NewScheme()
	require.NoError(t, clientgoscheme.AddToScheme(s))
	require.NoError(t, storagev1alpha1.AddToScheme(s))
	return s
}

// fakeEnv is the API over controller-runtime's fake client, with a fake
// controller that deploys every spec replica (device path
// /dev/drbd<1000+node id>) and lets deleted objects go.
type fakeEnv struct {
	c   client.Client
	srv *Server
	api *lapi.Client
	url string
}

func newFakeEnv(t testing.TB, objs ...client.Object) *fakeEnv {
	return newFakeEnvWith(t, true, objs...)
}

// newFakeEnvWith runs the fake controller or not (read-only benchmarks).
func newFakeEnvWith(t testing.TB, controller bool, objs ...client.Object) *fakeEnv {
	t.Helper()
	objs = append(objs, testTopology())
	c := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(objs...).
		WithStatusSubresource(&storagev1alpha1.StorageVolume{}, &storagev1alpha1.StorageSnapshot{}, &storagev1alpha1.StorageTopology{}).Build()
	srv := New(Options{Client: c, Namespace: "piraeus-datastore", WaitTimeout: 5 * time.Second, PollInterval: 5 * time.Millisecond})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if controller {
		go fakeController(ctx, c)
	}
	u, _ := url.Parse(ts.URL)
	api, err := lapi.NewClient(lapi.BaseURL(u))
	require.NoError(t, err)
	return &fakeEnv{c: c, srv: srv, api: api, url: ts.URL}
}

// fakeController plays the controller: status follows the spec.
func fakeController(ctx context.Context, c client.Client) {
	for ctx.Err() == nil {
		time.Sleep(2 * time.Millisecond)
		l := &storagev1alpha1.StorageVolumeList{}
		if c.List(ctx, l) != nil {
			continue
		}
		for i := range l.Items {
			v := &l.Items[i]
			if v.DeletionTimestamp != nil {
				controllerutil.RemoveFinalizer(v, storagev1alpha1.StorageVolumeFinalizer)
				_ = c.Update(ctx, v)
				continue
			}
			var st []storagev1alpha1.ReplicaStatus
			for _, r := range v.Spec.Replicas {
				rs := storagev1alpha1.ReplicaStatus{Node: r.Node, Deployed: true, Quorum: true}
				if prev := v.Status.Replica(r.Node); prev != nil {
					rs.InUse = prev.InUse // set by tests, as a Primary would
				}
				for _, vd := range v.Spec.Volumes {
					rs.Volumes = append(rs.Volumes, storagev1alpha1.ReplicaVolumeStatus{Number: vd.Number,
						DevicePath: fmt.Sprintf("/dev/drbd%d", 1000+r.NodeID), DiskState: "UpToDate", AllocatedBytes: vd.SizeBytes})
				}
				st = append(st, rs)
			}
			if fmt.Sprint(st) != fmt.Sprint(v.Status.Replicas) {
				v.Status.Replicas = st
				_ = c.Status().Update(ctx, v)
			}
		}
		sl := &storagev1alpha1.StorageSnapshotList{}
		if c.List(ctx, sl) != nil {
			continue
		}
		for i := range sl.Items {
			ss := &sl.Items[i]
			if ss.DeletionTimestamp != nil {
				controllerutil.RemoveFinalizer(ss, storagev1alpha1.StorageSnapshotFinalizer)
				_ = c.Update(ctx, ss)
			}
		}
	}
}

func (e *fakeEnv) volume(t testing.TB, name string) *storagev1alpha1.StorageVolume {
	v := &storagev1alpha1.StorageVolume{}
	require.NoError(t, e.c.Get(context.Background(), types.NamespacedName{Name: name}, v))
	return v
}
