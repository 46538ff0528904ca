package csi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	lapi "github.com/LINBIT/golinstor/client"
	"github.com/stretchr/testify/require"
)

// TestConcurrentCreatesShareGroupReconcile: twenty creates of one class at
// once create its resource group once (a fake LINSTOR API counts the calls).
func TestConcurrentCreatesShareGroupReconcile(t *testing.T) {
	var creates atomic.Int32
	var mu sync.Mutex
	var group *lapi.ResourceGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/resource-groups/"):
			if group == nil {
				w.WriteHeader(http.StatusNotFound)
				_, _ = w.Write([]byte(`[{"ret_code": -4611686018407201006, "message": "not found"}]`))
				return
			}
			_ = json.NewEncoder(w).Encode(group)
		case r.Method == http.MethodPost && r.URL.Path == "/v1/resource-groups":
			creates.Add(1)
			time.Sleep(50 * time.Millisecond) // the window the others would race in
			group = &lapi.ResourceGroup{}
			_ = json.NewDecoder(r.Body).Decode(group)
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(`[{"ret_code": 1, "message": "created"}]`))
		default:
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(`[{"ret_code": 1, "message": "ok"}]`))
		}
	}))
	defer srv.Close()
	d, err := New(Options{Mode: ModeController, LinstorEndpoint: srv.URL})
	require.NoError(t, err)
	p, err := ParseParameters(map[string]string{"linstor.csi.linbit.com/placementCount": "2"})
	require.NoError(t, err)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			q := p
			require.NoError(t, d.reconcileResourceGroup(context.Background(), &q))
		})
	}
	wg.Wait()
	require.EqualValues(t, 1, creates.Load())
}
