package linstorapi

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	lapi "github.com/LINBIT/golinstor/client"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
)

// benchVolumes are n placed and deployed volumes of two replicas and a
// tie-breaker over the three test nodes, each with one snapshot.
func benchVolumes(n int) []client.Object {
	nodes := []string{"n1", "n2", "n3"}
	objs := make([]client.Object, 0, 2*n)
	for i := range n {
		v := &storagev1alpha1.StorageVolume{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pvc-%05d", i), UID: types.UID(fmt.Sprintf("uid-%05d", i))}}
		v.Spec = storagev1alpha1.StorageVolumeSpec{ResourceGroup: "replicated", Volumes: []storagev1alpha1.VolumeDefinition{{Number: 0, SizeBytes: 1 << 30}}}
		for j, node := range nodes {
			r := storagev1alpha1.Replica{Node: node, StoragePool: "thin", NodeID: int32(j), Port: int32(7000 + i%1000), Minors: []int32{int32(1000 + i)}}
			if j == (i % 3) {
				r.StoragePool, r.Diskless, r.TieBreaker = "", true, true
			}
			v.Spec.Replicas = append(v.Spec.Replicas, r)
			v.Status.Replicas = append(v.Status.Replicas, storagev1alpha1.ReplicaStatus{Node: node, Deployed: true,
				Volumes: []storagev1alpha1.ReplicaVolumeStatus{{Number: 0, DevicePath: fmt.Sprintf("/dev/drbd%d", 1000+i), DiskState: "UpToDate"}}})
		}
		ss := &storagev1alpha1.StorageSnapshot{ObjectMeta: metav1.ObjectMeta{Name: v.Name + ".snap"},
			Spec: storagev1alpha1.StorageSnapshotSpec{Volume: v.Name, SnapshotName: "snap", Nodes: []string{"n1"}, Volumes: v.Spec.Volumes}}
		objs = append(objs, v, ss)
	}
	return objs
}

// cachedLists serves the volume and snapshot lists from memory without
// copying, as the controller-runtime cache does with UnsafeDisableDeepCopy
// (the fake client would JSON-copy 10 000 objects per list, which the
// real API does not pay).
type cachedLists struct {
	client.Client
	vols  []storagev1alpha1.StorageVolume
	snaps []storagev1alpha1.StorageSnapshot
}

func (c *cachedLists) List(ctx context.Context, l client.ObjectList, opts ...client.ListOption) error {
	switch l := l.(type) {
	case *storagev1alpha1.StorageVolumeList:
		l.Items = c.vols
	case *storagev1alpha1.StorageSnapshotList:
		l.Items = c.snaps
	default:
		return c.Client.List(ctx, l, opts...)
	}
	return nil
}

// BenchmarkListViews is one call of each list view linstor-csi's caches
// make (limit 0, every object) with 10 000 volumes, through golinstor.
func BenchmarkListViews(b *testing.B) {
	objs := benchVolumes(10000)
	e := newFakeEnvWith(b, false)
	ctx := context.Background()
	cl := &cachedLists{Client: e.c}
	for _, o := range objs {
		switch o := o.(type) {
		case *storagev1alpha1.StorageVolume:
			cl.vols = append(cl.vols, *o)
		case *storagev1alpha1.StorageSnapshot:
			cl.snaps = append(cl.snaps, *o)
		}
	}
	e.srv.c = cl
	// Server side: the handler writing into a discarding response.
	for _, path := range []string{"/v1/nodes", "/v1/view/storage-pools", "/v1/view/resources", "/v1/view/snapshots"} {
		b.Run("server"+path, func(b *testing.B) {
			req, _ := http.NewRequest(http.MethodGet, path+"?cached=true&limit=0&offset=0", nil)
			for b.Loop() {
				w := &discard{h: http.Header{}}
				e.srv.ServeHTTP(w, req)
				require.Equal(b, http.StatusOK, w.status)
			}
		})
	}
	// Through golinstor, decoding included (what linstor-csi's caches wait for).
	for _, tc := range []struct {
		name string
		call func() (int, error)
	}{
		{"nodes", func() (int, error) { n, err := e.api.Nodes.GetAll(ctx); return len(n), err }},
		{"storage-pools", func() (int, error) { p, err := e.api.Nodes.GetStoragePoolView(ctx); return len(p), err }},
		{"resources", func() (int, error) { r, err := e.api.Resources.GetResourceView(ctx); return len(r), err }},
		{"snapshots", func() (int, error) { s, err := e.api.Resources.GetSnapshotView(ctx); return len(s), err }},
	} {
		b.Run("golinstor/"+tc.name, func(b *testing.B) {
			for b.Loop() {
				n, err := tc.call()
				require.NoError(b, err)
				require.NotZero(b, n)
			}
		})
	}
}

// BenchmarkCreateDeployed is create → deployed through golinstor
// (definition, volume definition, autoplace of two replicas and a
// tie-breaker) with the fake controller deploying at once: the API's own cost.
func BenchmarkCreateDeployed(b *testing.B) {
	e := newFakeEnv(b)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		name := fmt.Sprintf("pvc-b%d", i)
		i++
		require.NoError(b, e.api.ResourceDefinitions.Create(ctx, lapi.ResourceDefinitionCreate{ResourceDefinition: lapi.ResourceDefinition{Name: name, ResourceGroupName: "replicated"}}))
		require.NoError(b, e.api.ResourceDefinitions.CreateVolumeDefinition(ctx, name, lapi.VolumeDefinitionCreate{VolumeDefinition: lapi.VolumeDefinition{VolumeNumber: ptr.To(int32(0)), SizeKib: 1 << 10}}))
		require.NoError(b, e.api.Resources.Autoplace(ctx, name, lapi.AutoPlaceRequest{}))
	}
}

// discard is a ResponseWriter that keeps only the status.
type discard struct {
	h      http.Header
	status int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(s int)           { d.status = s }
