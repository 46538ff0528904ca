package linstorapi_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	lapi "github.com/LINBIT/golinstor/client"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	"github.com/piraeusctl/piraeusctl/controller"
	"github.com/piraeusctl/piraeusctl/internal/kubetest"
	"github.com/piraeusctl/piraeusctl/internal/localup"
	"github.com/piraeusctl/piraeusctl/internal/testsupport"
	"github.com/piraeusctl/piraeusctl/plan"
)

// binary is piraeusctl built once for the package's integration tests.
var binary string

func TestMain(m *testing.M) {
	os.Exit(testsupport.MainWithBinary(m, &binary))
}

// localDatastore starts hack/local-up.sh's datastore (operator converge
// loop included) for one test.
func localDatastore(t testing.TB, adjust ...func(*localup.Options)) *localup.Env {
	t.Helper()
	if binary == "" {
		t.Skip("integration test skipped (" + testsupport.SkipIntegrationEnv + "=1 or -short)")
	}
	testsupport.RequireRoot(t, "loop devices and mounts of the local datastore")
	_, err := kubetest.AssetsDir()
	require.NoError(t, err)
	opts := localup.Options{
		Binary: binary, Dir: filepath.Join(t.TempDir(), "local"), Converge: true,
		OperatorArgs:   []string{"--resync=2s"},
		ControllerArgs: []string{"--resync=20s"},
		Logger:         slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	for _, a := range adjust {
		a(&opts)
	}
	env, err := localup.Up(t.Context(), opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := exec.Command("sh", "-c", "tail -n 40 "+filepath.Join(env.Dir, "logs", "*.log")).CombinedOutput()
			t.Log(string(out))
		}
		env.Down()
	})
	return env
}

// apiClient is golinstor pointed at the local controller's API.
func apiClient(t testing.TB, env *localup.Env) *lapi.Client {
	u, err := url.Parse(env.LinstorAPI)
	require.NoError(t, err)
	c, err := lapi.NewClient(lapi.BaseURL(u))
	require.NoError(t, err)
	return c
}

// kubeClient reads the storage objects of the local datastore.
func kubeClient(t testing.TB, env *localup.Env) client.Client {
	s, err := controller.Scheme()
	require.NoError(t, err)
	c, err := client.New(env.Config, client.Options{Scheme: s})
	require.NoError(t, err)
	return c
}

// waitOnline waits until every node's agent is connected.
func waitOnline(t testing.TB, c *lapi.Client) {
	require.Eventually(t, func() bool {
		nodes, err := c.Nodes.GetAll(context.Background())
		if err != nil || len(nodes) != 3 {
			return false
		}
		for _, n := range nodes {
			if n.ConnectionStatus != "ONLINE" {
				return false
			}
		}
		return true
	}, 2*time.Minute, 200*time.Millisecond)
}

// createVolume is linstor-csi's create: group, definition, volume
// definition, autoplace.
func createVolume(ctx context.Context, c *lapi.Client, name, group string, kib uint64) error {
	if err := c.ResourceDefinitions.Create(ctx, lapi.ResourceDefinitionCreate{ResourceDefinition: lapi.ResourceDefinition{Name: name, ResourceGroupName: group}}); err != nil {
		return fmt.Errorf("create rd %s: %w", name, err)
	}
	if err := c.ResourceDefinitions.CreateVolumeDefinition(ctx, name, lapi.VolumeDefinitionCreate{VolumeDefinition: lapi.VolumeDefinition{VolumeNumber: ptr.To(int32(0)), SizeKib: kib}}); err != nil {
		return fmt.Errorf("create vd %s: %w", name, err)
	}
	if err := c.Resources.Autoplace(ctx, name, lapi.AutoPlaceRequest{}); err != nil {
		return fmt.Errorf("autoplace %s: %w", name, err)
	}
	return nil
}

// deleteVolume is linstor-csi's delete: resources (diskless first), volume
// definitions, definition.
func deleteVolume(ctx context.Context, c *lapi.Client, name string) error {
	res, err := c.Resources.GetAll(ctx, name)
	if err != nil {
		return fmt.Errorf("list %s: %w", name, err)
	}
	for _, diskless := range []bool{true, false} {
		for _, r := range res {
			if strings.Contains(strings.Join(r.Flags, ","), "DISKLESS") == diskless {
				if err := c.Resources.Delete(ctx, name, r.NodeName); err != nil {
					return fmt.Errorf("delete %s on %s: %w", name, r.NodeName, err)
				}
			}
		}
	}
	if err := c.ResourceDefinitions.DeleteVolumeDefinition(ctx, name, 0); err != nil {
		return fmt.Errorf("delete vd %s: %w", name, err)
	}
	if err := c.ResourceDefinitions.Delete(ctx, name); err != nil {
		return fmt.Errorf("delete rd %s: %w", name, err)
	}
	return nil
}

// TestLocalCreateAttachDelete: golinstor creates a volume through the
// controller's API on the local datastore (real API server, controller,
// agents), sees device_path right after autoplace, attaches it diskless on
// the third node, and deletes it; a resource group made through the API
// survives the operator's converge passes.
func TestLocalCreateAttachDelete(t *testing.T) {
	env := localDatastore(t)
	c := apiClient(t, env)
	ctx := t.Context()
	waitOnline(t, c)

	require.NoError(t, c.ResourceGroups.Create(ctx, lapi.ResourceGroup{Name: "api-two", SelectFilter: lapi.AutoSelectFilter{PlaceCount: 2, StoragePoolList: []string{localup.PoolName}}}))
	require.NoError(t, c.ResourceGroups.CreateVolumeGroup(ctx, "api-two", lapi.VolumeGroup{}))
	start := time.Now()
	require.NoError(t, createVolume(ctx, c, "pvc-local-1", "api-two", 8<<10))
	t.Logf("create → deployed: %s", time.Since(start))
	view, err := c.Resources.GetResourceView(ctx, &lapi.ListOpts{Resource: []string{"pvc-local-1"}})
	require.NoError(t, err)
	nodes := map[string]bool{}
	for _, r := range view {
		require.NotEmpty(t, r.Volumes[0].DevicePath, "device_path of %s right after autoplace", r.NodeName)
		nodes[r.NodeName] = true
	}
	require.GreaterOrEqual(t, len(view), 2)
	for _, n := range env.Nodes {
		if !nodes[n.Name] {
			require.NoError(t, c.Resources.MakeAvailable(ctx, "pvc-local-1", n.Name, lapi.ResourceMakeAvailable{}))
			v, err := c.Resources.GetVolume(ctx, "pvc-local-1", n.Name, 0)
			require.NoError(t, err)
			require.NotEmpty(t, v.DevicePath)
		}
	}

	// The operator converges every 2 s: the group stays.
	time.Sleep(6 * time.Second)
	rg, err := c.ResourceGroups.Get(ctx, "api-two")
	require.NoError(t, err)
	require.Equal(t, int32(2), rg.SelectFilter.PlaceCount)

	require.NoError(t, deleteVolume(ctx, c, "pvc-local-1"))
	_, err = c.ResourceDefinitions.Get(ctx, "pvc-local-1")
	require.ErrorIs(t, err, lapi.NotFoundError)
	require.NoError(t, c.ResourceGroups.Delete(ctx, "api-two"))
	time.Sleep(4 * time.Second)
	_, err = c.ResourceGroups.Get(ctx, "api-two")
	require.ErrorIs(t, err, lapi.NotFoundError, "a deleted group does not come back")
}

// TestLocalConcurrentClients: 50 clients create and delete volumes at
// once; while they all exist no DRBD port or minor is used twice on a
// node, and at the end every volume is gone with its storage.
func TestLocalConcurrentClients(t *testing.T) {
	const clients = 50
	env := localDatastore(t)
	c := apiClient(t, env)
	kc := kubeClient(t, env)
	ctx := t.Context()
	waitOnline(t, c)
	require.NoError(t, c.ResourceGroups.Create(ctx, lapi.ResourceGroup{Name: "api-conc", SelectFilter: lapi.AutoSelectFilter{PlaceCount: 2, StoragePoolList: []string{localup.PoolName}}}))

	var created, deleted sync.WaitGroup
	errs := make(chan error, 2*clients)
	proceed := make(chan struct{})
	start := time.Now()
	for i := range clients {
		created.Add(1)
		deleted.Add(1)
		go func() {
			defer deleted.Done()
			name := fmt.Sprintf("pvc-conc-%02d", i)
			err := createVolume(ctx, c, name, "api-conc", 4<<10)
			created.Done()
			if err != nil {
				errs <- err
				return
			}
			<-proceed
			if err := deleteVolume(ctx, c, name); err != nil {
				errs <- err
			}
		}()
	}
	created.Wait()
	t.Logf("%d volumes created and deployed by %d clients in %s", clients, clients, time.Since(start))
	vols := &storagev1alpha1.StorageVolumeList{}
	require.NoError(t, kc.List(ctx, vols))
	type slot struct {
		node string
		n    int32
	}
	ports, minors := map[slot]string{}, map[slot]string{}
	for _, v := range vols.Items {
		if !strings.HasPrefix(v.Name, "pvc-conc-") {
			continue
		}
		for _, r := range v.Spec.Replicas {
			if r.Port != 0 {
				require.Empty(t, ports[slot{r.Node, r.Port}], "port %d on %s twice: %s and %s", r.Port, r.Node, ports[slot{r.Node, r.Port}], v.Name)
				ports[slot{r.Node, r.Port}] = v.Name
			}
			for _, m := range r.Minors {
				require.Empty(t, minors[slot{r.Node, m}], "minor %d on %s twice", m, r.Node)
				minors[slot{r.Node, m}] = v.Name
			}
		}
	}
	close(proceed)
	deleted.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	t.Logf("all created and deleted in %s", time.Since(start))
	require.NoError(t, kc.List(ctx, vols))
	for _, v := range vols.Items {
		require.False(t, strings.HasPrefix(v.Name, "pvc-conc-"), "%s left behind", v.Name)
	}
	for _, n := range env.Nodes {
		left, _ := filepath.Glob(filepath.Join(n.PoolDir, "pvc-conc-*"))
		require.Empty(t, left, "backing files left on %s", n.Name)
	}
	// The topology status catches up with the last deletions within seconds.
	require.Eventually(t, func() bool {
		topo := &storagev1alpha1.StorageTopology{}
		if kc.Get(ctx, types.NamespacedName{Name: plan.TopologyName}, topo) != nil {
			return false
		}
		for _, n := range topo.Status.Nodes {
			if len(n.Orphans) > 0 {
				t.Logf("orphans on %s: %v", n.Name, n.Orphans)
				return false
			}
		}
		return true
	}, 30*time.Second, time.Second, "no orphans left on any node")
}
