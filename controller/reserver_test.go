package controller

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
)

// TestReserverBatches: 24 volumes reserving at once on 3 nodes get unique
// numbers per node, with fewer ledger writes than one per volume and node,
// and a volume whose recorded number another holds fails alone.
func TestReserverBatches(t *testing.T) {
	scheme := runtime.NewScheme()
	require.NoError(t, storagev1alpha1.AddToScheme(scheme))
	var writes atomic.Int32
	count := func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
		writes.Add(1)
		return c.Update(ctx, obj, opts...)
	}
	countCreate := func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
		writes.Add(1)
		return c.Create(ctx, obj, opts...)
	}
	held := ledgerOf("n1", map[int32]string{7100: "holder"}, nil)
	kc := fake.NewClientBuilder().WithScheme(scheme).WithObjects(held).
		WithInterceptorFuncs(interceptor.Funcs{Update: count, Create: countCreate}).Build()
	r := &reserver{ledger: &Ledger{Client: kc, Reader: kc}}
	ranges := storagev1alpha1.AllocationSettings{PortMin: 7000, PortMax: 7999, MinorMin: 1000, MinorMax: 1999}

	const volumes = 24
	grants := make([]map[string]map[string]Grant, volumes)
	errs := make([]error, volumes)
	var wg sync.WaitGroup
	for i := range volumes {
		wg.Go(func() {
			var needs []Need
			for _, node := range []string{"n1", "n2", "n3"} {
				n := Need{Volume: fmt.Sprintf("v%02d", i), UID: fmt.Sprintf("uid-%02d", i), Node: node, MinorCount: 1}
				if i == 0 && node == "n1" {
					n.Port = 7100 // recorded, but held by another volume
				}
				needs = append(needs, n)
			}
			grants[i], errs[i] = r.Reserve(context.Background(), ranges, needs)
		})
	}
	wg.Wait()

	require.Error(t, errs[0], "the volume whose recorded port is held fails")
	ports := map[string]map[int32]string{}
	for i := 1; i < volumes; i++ {
		require.NoError(t, errs[i])
		name := fmt.Sprintf("v%02d", i)
		require.Len(t, grants[i][name], 3, name)
		for node, g := range grants[i][name] {
			if ports[node] == nil {
				ports[node] = map[int32]string{}
			}
			require.Empty(t, ports[node][g.Port], "port %d on %s given twice", g.Port, node)
			ports[node][g.Port] = name
		}
	}
	require.Less(t, int(writes.Load()), (volumes-1)*3, "batched: fewer writes than one per volume and node")
}
