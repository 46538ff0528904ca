package linstorapi

import (
	"context"
	"slices"
	"testing"

	lapi "github.com/LINBIT/golinstor/client"
	"github.com/stretchr/testify/require"
	"k8s.io/utils/ptr"
)

// TestCreateAttachDelete is linstor-csi's create, attach and delete flow.
func TestCreateAttachDelete(t *testing.T) {
	e := newFakeEnv(t)
	ctx := context.Background()
	_, err := e.api.ResourceGroups.Get(ctx, "sc-1")
	require.ErrorIs(t, err, lapi.NotFoundError)
	require.NoError(t, e.api.ResourceGroups.Create(ctx, lapi.ResourceGroup{Name: "sc-1", Props: map[string]string{}}))
	require.NoError(t, e.api.ResourceGroups.CreateVolumeGroup(ctx, "sc-1", lapi.VolumeGroup{}))
	require.NoError(t, e.api.ResourceGroups.Modify(ctx, "sc-1", lapi.ResourceGroupModify{SelectFilter: lapi.AutoSelectFilter{PlaceCount: 2, StoragePoolList: []string{"thin"}},
		OverrideProps: map[string]string{"DrbdOptions/Net/protocol": "C"}}))
	rg, err := e.api.ResourceGroups.Get(ctx, "sc-1")
	require.NoError(t, err)
	require.Equal(t, int32(2), rg.SelectFilter.PlaceCount)
	require.Equal(t, "C", rg.Props["DrbdOptions/Net/protocol"])

	require.NoError(t, e.api.ResourceDefinitions.Create(ctx, lapi.ResourceDefinitionCreate{ResourceDefinition: lapi.ResourceDefinition{
		Name: "pvc-1", ResourceGroupName: "sc-1", Props: map[string]string{"FileSystem/Type": "ext4"}}}))
	require.NoError(t, e.api.ResourceDefinitions.CreateVolumeDefinition(ctx, "pvc-1", lapi.VolumeDefinitionCreate{VolumeDefinition: lapi.VolumeDefinition{VolumeNumber: ptr.To(int32(0)), SizeKib: 1 << 20}}))
	require.NoError(t, e.api.Resources.Autoplace(ctx, "pvc-1", lapi.AutoPlaceRequest{}))
	all, err := e.api.Resources.GetAll(ctx, "pvc-1")
	require.NoError(t, err)
	require.Len(t, all, 3, "two diskful replicas and a DRBD tie-breaker")
	var res []lapi.Resource
	for _, r := range all {
		if !slices.Contains(r.Flags, "DISKLESS") {
			res = append(res, r)
		}
	}
	require.Len(t, res, 2)
	require.NoError(t, e.api.Resources.Autoplace(ctx, "pvc-1", lapi.AutoPlaceRequest{}), "a placed resource is a no-op")
	view, err := e.api.Resources.GetResourceView(ctx)
	require.NoError(t, err)
	require.Len(t, view, 3)
	require.NotEmpty(t, view[0].Volumes[0].DevicePath)

	var attach string
	for _, n := range []string{"n1", "n2", "n3"} {
		if !(n == res[0].NodeName || n == res[1].NodeName) {
			attach = n
		}
	}
	require.NoError(t, e.api.Resources.MakeAvailable(ctx, "pvc-1", attach, lapi.ResourceMakeAvailable{}))
	vol, err := e.api.Resources.GetVolume(ctx, "pvc-1", attach, 0)
	require.NoError(t, err)
	require.NotEmpty(t, vol.DevicePath)
	r, err := e.api.Resources.Get(ctx, "pvc-1", attach)
	require.NoError(t, err)
	require.Contains(t, r.Flags, "DRBD_DISKLESS")

	for _, x := range all {
		require.NoError(t, e.api.Resources.Delete(ctx, "pvc-1", x.NodeName))
	}
	require.NoError(t, e.api.ResourceDefinitions.DeleteVolumeDefinition(ctx, "pvc-1", 0))
	require.NoError(t, e.api.ResourceDefinitions.Delete(ctx, "pvc-1"))
	_, err = e.api.ResourceDefinitions.Get(ctx, "pvc-1")
	require.ErrorIs(t, err, lapi.NotFoundError)
}
