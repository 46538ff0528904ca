package linstorapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	linstor "github.com/LINBIT/golinstor"
	lapi "github.com/LINBIT/golinstor/client"
	"github.com/LINBIT/golinstor/clonestatus"
	"github.com/stretchr/testify/require"
	"k8s.io/utils/ptr"
)

// step is one golinstor call in order, its expected outcome (nil, a
// NotFoundError, or an ApiCallRc mask) and what the decoded answer must hold.
type step struct {
	name string
	call func(context.Context, *lapi.Client) (any, error)
	// mask the error must match (0: success); notFound: golinstor's NotFoundError.
	mask     uint64
	notFound bool
	check    func(*testing.T, any)
}

func TestRoutesGolinstor(t *testing.T) {
	e := newFakeEnv(t)
	ctx := context.Background()
	steps := []step{
		{name: "controller version", call: func(ctx context.Context, c *lapi.Client) (any, error) { return c.Controller.GetVersion(ctx) },
			check: func(t *testing.T, a any) { require.Equal(t, RestAPIVersion, a.(lapi.ControllerVersion).RestApiVersion) }},
		{name: "remotes", call: func(ctx context.Context, c *lapi.Client) (any, error) { return c.Remote.GetAll(ctx) }},
		{name: "nodes", call: func(ctx context.Context, c *lapi.Client) (any, error) { return c.Nodes.GetAll(ctx) },
			check: func(t *testing.T, a any) {
				n := a.([]lapi.Node)
				require.Len(t, n, 3)
				require.Equal(t, "ONLINE", n[0].ConnectionStatus)
				require.Equal(t, "a", n[0].Props["Aux/topology/topology.kubernetes.io/zone"])
			}},
		{name: "nodes filtered by prop", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return c.Nodes.GetAll(ctx, &lapi.ListOpts{Prop: []string{"Aux/topology/topology.kubernetes.io/zone=b"}})
		}, check: func(t *testing.T, a any) { require.Equal(t, "n2", a.([]lapi.Node)[0].Name) }},
		{name: "node", call: func(ctx context.Context, c *lapi.Client) (any, error) { return c.Nodes.Get(ctx, "n1") }},
		{name: "node not found", call: func(ctx context.Context, c *lapi.Client) (any, error) { return c.Nodes.Get(ctx, "nx") }, notFound: true},
		{name: "node's pools", call: func(ctx context.Context, c *lapi.Client) (any, error) { return c.Nodes.GetStoragePools(ctx, "n1") },
			check: func(t *testing.T, a any) {
				p := a.([]lapi.StoragePool)
				require.Len(t, p, 2)
				require.Equal(t, lapi.FILE_THIN, p[1].ProviderKind)
				require.Equal(t, int64(10<<20), p[1].TotalCapacity, "KiB")
				require.Equal(t, int64(9<<20), p[1].FreeCapacity, "KiB")
			}},
		{name: "pool view", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return c.Nodes.GetStoragePoolView(ctx, &lapi.ListOpts{StoragePool: []string{"thin"}})
		}, check: func(t *testing.T, a any) { require.Len(t, a.([]lapi.StoragePool), 3) }},

		{name: "group create", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return nil, c.ResourceGroups.Create(ctx, lapi.ResourceGroup{Name: "rg1", SelectFilter: lapi.AutoSelectFilter{PlaceCount: 2, StoragePoolList: []string{"thin"}}})
		}},
		{name: "group exists", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return nil, c.ResourceGroups.Create(ctx, lapi.ResourceGroup{Name: "rg1"})
		}, mask: linstor.FailExistsRscGrp},
		{name: "group invalid prop", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return nil, c.ResourceGroups.Modify(ctx, "rg1", lapi.ResourceGroupModify{OverrideProps: map[string]string{"NoSuchKey": "x"}})
		}, mask: linstor.FailInvldProp},
		{name: "group invalid DRBD option section", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return nil, c.ResourceGroups.Modify(ctx, "rg1", lapi.ResourceGroupModify{OverrideProps: map[string]string{"DrbdOptions/Nope/x": "y"}})
		}, mask: linstor.FailInvldProp},
		{name: "group modify", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return nil, c.ResourceGroups.Modify(ctx, "rg1", lapi.ResourceGroupModify{OverrideProps: map[string]string{"DrbdOptions/Net/protocol": "C", "Aux/x": "1"}})
		}},
		{name: "group get", call: func(ctx context.Context, c *lapi.Client) (any, error) { return c.ResourceGroups.Get(ctx, "rg1") },
			check: func(t *testing.T, a any) {
				g := a.(lapi.ResourceGroup)
				require.Equal(t, map[string]string{"DrbdOptions/Net/protocol": "C", "Aux/x": "1"}, g.Props)
				require.Equal(t, []string{"thin"}, g.SelectFilter.StoragePoolList)
				require.Equal(t, []string{"DRBD", "STORAGE"}, g.SelectFilter.LayerStack)
			}},
		{name: "group of a StorageClass refuses a change", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return nil, c.ResourceGroups.Modify(ctx, "replicated", lapi.ResourceGroupModify{SelectFilter: lapi.AutoSelectFilter{PlaceCount: 3}})
		}, mask: linstor.FailAccDeniedRscGrp},
		{name: "group not found", call: func(ctx context.Context, c *lapi.Client) (any, error) { return c.ResourceGroups.Get(ctx, "nope") }, notFound: true},
		{name: "volume group create", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return nil, c.ResourceGroups.CreateVolumeGroup(ctx, "rg1", lapi.VolumeGroup{})
		}},

		{name: "rd invalid name", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return nil, c.ResourceDefinitions.Create(ctx, lapi.ResourceDefinitionCreate{ResourceDefinition: lapi.ResourceDefinition{Name: "a.b"}})
		}, mask: linstor.FailInvldRscName},
		{name: "rd in missing group", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return nil, c.ResourceDefinitions.Create(ctx, lapi.ResourceDefinitionCreate{ResourceDefinition: lapi.ResourceDefinition{Name: "x1", ResourceGroupName: "nope"}})
		}, notFound: true},
		{name: "rd create", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return nil, c.ResourceDefinitions.Create(ctx, lapi.ResourceDefinitionCreate{ResourceDefinition: lapi.ResourceDefinition{Name: "Vol_One", ResourceGroupName: "rg1",
				Props: map[string]string{"FileSystem/Type": "xfs"}}})
		}},
		{name: "rd exists (names are case-insensitive)", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return nil, c.ResourceDefinitions.Create(ctx, lapi.ResourceDefinitionCreate{ResourceDefinition: lapi.ResourceDefinition{Name: "vol_one", ResourceGroupName: "rg1"}})
		}, mask: linstor.FailExistsRscDfn},
		{name: "rd get", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return c.ResourceDefinitions.Get(ctx, "Vol_One")
		},
			check: func(t *testing.T, a any) {
				rd := a.(lapi.ResourceDefinition)
				require.Equal(t, "Vol_One", rd.Name)
				require.Equal(t, "rg1", rd.ResourceGroupName)
				require.Equal(t, "xfs", rd.Props["FileSystem/Type"])
			}},
		{name: "rd not found", call: func(ctx context.Context, c *lapi.Client) (any, error) { return c.ResourceDefinitions.Get(ctx, "nope") }, notFound: true},
		{name: "rd modify props", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return nil, c.ResourceDefinitions.Modify(ctx, "Vol_One", lapi.GenericPropsModify{OverrideProps: map[string]string{"DrbdOptions/Resource/on-no-quorum": "io-error", "BalanceResourcesEnabled": "false"}})
		}},
		{name: "rd invalid prop", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return nil, c.ResourceDefinitions.Modify(ctx, "Vol_One", lapi.GenericPropsModify{OverrideProps: map[string]string{"/bad": "x"}})
		}, mask: linstor.FailInvldProp},
		{name: "vd zero size", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return nil, c.ResourceDefinitions.CreateVolumeDefinition(ctx, "Vol_One", lapi.VolumeDefinitionCreate{VolumeDefinition: lapi.VolumeDefinition{SizeKib: 0}})
		}, mask: linstor.FailInvldVlmSize},
		{name: "vd create", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return nil, c.ResourceDefinitions.CreateVolumeDefinition(ctx, "Vol_One", lapi.VolumeDefinitionCreate{VolumeDefinition: lapi.VolumeDefinition{VolumeNumber: ptr.To(int32(0)), SizeKib: 1 << 20}})
		}},
		{name: "vd exists", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return nil, c.ResourceDefinitions.CreateVolumeDefinition(ctx, "Vol_One", lapi.VolumeDefinitionCreate{VolumeDefinition: lapi.VolumeDefinition{VolumeNumber: ptr.To(int32(0)), SizeKib: 1}})
		}, mask: linstor.FailExistsVlmDfn},
		{name: "vd get (volume number 0 present)", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return c.ResourceDefinitions.GetVolumeDefinition(ctx, "Vol_One", 0)
		}, check: func(t *testing.T, a any) {
			vd := a.(lapi.VolumeDefinition)
			require.NotNil(t, vd.VolumeNumber)
			require.Equal(t, uint64(1<<20), vd.SizeKib)
		}},
		{name: "vd not found", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return c.ResourceDefinitions.GetVolumeDefinition(ctx, "Vol_One", 7)
		}, notFound: true},
		{name: "rd list with vds", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return c.ResourceDefinitions.GetAll(ctx, lapi.RDGetAllRequest{WithVolumeDefinitions: true})
		}, check: func(t *testing.T, a any) {
			rds := a.([]lapi.ResourceDefinitionWithVolumeDefinition)
			require.Len(t, rds, 1)
			require.Len(t, rds[0].VolumeDefinitions, 1)
		}},
		{name: "autoplace on too few nodes", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return nil, c.Resources.Autoplace(ctx, "Vol_One", lapi.AutoPlaceRequest{SelectFilter: lapi.AutoSelectFilter{PlaceCount: 2, NodeNameList: []string{"n1"}}})
		}, mask: linstor.FailNotEnoughNodes},
		{name: "autoplace on requisite nodes", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return nil, c.Resources.Autoplace(ctx, "Vol_One", lapi.AutoPlaceRequest{SelectFilter: lapi.AutoSelectFilter{PlaceCount: 1, NodeNameList: []string{"n2"}}})
		}},
		{name: "autoplace the rest from the group", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return nil, c.Resources.Autoplace(ctx, "Vol_One", lapi.AutoPlaceRequest{})
		}},
		{name: "resources deployed with device paths", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return c.Resources.GetResourceView(ctx, &lapi.ListOpts{Resource: []string{"Vol_One"}})
		}, check: func(t *testing.T, a any) {
			res := a.([]lapi.ResourceWithVolumes)
			diskful := 0
			for _, r := range res {
				require.NotEmpty(t, r.Volumes[0].DevicePath, r.NodeName)
				if r.Volumes[0].ProviderKind == lapi.FILE_THIN {
					diskful++
				}
			}
			require.Equal(t, 2, diskful)
			require.Contains(t, []string{res[0].NodeName, res[1].NodeName}, "n2")
		}},
		{name: "resource create exists", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return nil, c.Resources.Create(ctx, lapi.ResourceCreate{Resource: lapi.Resource{Name: "Vol_One", NodeName: "n2"}})
		}, mask: linstor.FailExistsRsc},
		{name: "resource on unknown node", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return nil, c.Resources.Create(ctx, lapi.ResourceCreate{Resource: lapi.Resource{Name: "Vol_One", NodeName: "nx"}})
		}, notFound: true},
		{name: "resource volume props", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return nil, c.Resources.ModifyVolume(ctx, "Vol_One", "n2", 0, lapi.GenericPropsModify{OverrideProps: map[string]string{"Aux/csi-created-for": "x"}})
		}},
		{name: "resource volume", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return c.Resources.GetVolume(ctx, "Vol_One", "n2", 0)
		},
			check: func(t *testing.T, a any) { require.Equal(t, "x", a.(lapi.Volume).Props["Aux/csi-created-for"]) }},
		{name: "resize", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return nil, c.ResourceDefinitions.ModifyVolumeDefinition(ctx, "Vol_One", 0, lapi.VolumeDefinitionModify{SizeKib: 2 << 20})
		}},
		{name: "shrink refused", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return nil, c.ResourceDefinitions.ModifyVolumeDefinition(ctx, "Vol_One", 0, lapi.VolumeDefinitionModify{SizeKib: 1})
		}, mask: linstor.FailInvldVlmSize},

		{name: "snapshot", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return nil, c.Resources.CreateSnapshots(ctx, lapi.Snapshot{Name: "snap1", ResourceName: "Vol_One"})
		}},
		{name: "snapshot exists", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return nil, c.Resources.CreateSnapshots(ctx, lapi.Snapshot{Name: "snap1", ResourceName: "Vol_One"})
		}, mask: linstor.FailExistsSnapshotDfn},
		{name: "snapshot view", call: func(ctx context.Context, c *lapi.Client) (any, error) { return c.Resources.GetSnapshotView(ctx) },
			check: func(t *testing.T, a any) {
				s := a.([]lapi.Snapshot)
				require.Len(t, s, 1)
				require.Equal(t, "Vol_One", s[0].ResourceName)
				require.NotEmpty(t, s[0].VolumeDefinitions)
				require.Len(t, s[0].Snapshots, 2)
				require.Equal(t, uint64(2<<20), s[0].VolumeDefinitions[0].SizeKib)
			}},
		{name: "snapshot get", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return c.Resources.GetSnapshot(ctx, "Vol_One", "snap1")
		}},
		{name: "snapshot not found", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return c.Resources.GetSnapshot(ctx, "Vol_One", "nope")
		}, notFound: true},
		{name: "rd delete refused while a snapshot exists", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return nil, c.ResourceDefinitions.Delete(ctx, "Vol_One")
		}, mask: linstor.FailExistsSnapshotDfn},
		{name: "restore: new rd", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return nil, c.ResourceDefinitions.Create(ctx, lapi.ResourceDefinitionCreate{ResourceDefinition: lapi.ResourceDefinition{Name: "restored", ResourceGroupName: "rg1"}})
		}},
		{name: "restore volume definitions", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return nil, c.Resources.RestoreVolumeDefinitionSnapshot(ctx, "Vol_One", "snap1", lapi.SnapshotRestore{ToResource: "restored"})
		}},
		{name: "restore resources", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return nil, c.Resources.RestoreSnapshot(ctx, "Vol_One", "snap1", lapi.SnapshotRestore{ToResource: "restored"})
		}, check: func(t *testing.T, _ any) {
			v := e.volume(t, "restored")
			obj, err := rdName("Vol_One")
			require.NoError(t, err)
			require.Equal(t, obj+".snap1", v.Spec.Source.Snapshot)
			require.Len(t, v.Spec.Replicas, 2)
		}},
		{name: "clone", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return c.ResourceDefinitions.Clone(ctx, "restored", lapi.ResourceDefinitionCloneRequest{Name: "cloned"})
		}, check: func(t *testing.T, a any) {
			require.Equal(t, "cloned", a.(lapi.ResourceDefinitionCloneStarted).CloneName)
		}},
		{name: "clone status", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return c.ResourceDefinitions.CloneStatus(ctx, "restored", "cloned")
		}, check: func(t *testing.T, a any) {
			require.Contains(t, []clonestatus.CloneStatus{clonestatus.Cloning, clonestatus.Complete}, a.(lapi.ResourceDefinitionCloneStatus).Status)
		}},
		{name: "snapshot delete", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return nil, c.Resources.DeleteSnapshot(ctx, "Vol_One", "snap1")
		}},

		{name: "kv absent", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return c.KeyValueStore.Get(ctx, "csi-backup-mapping")
		}, notFound: true},
		{name: "kv set", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return nil, c.KeyValueStore.CreateOrModify(ctx, "csi-backup-mapping", lapi.GenericPropsModify{OverrideProps: map[string]string{"a/b": "c"}})
		}},
		{name: "kv get", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return c.KeyValueStore.Get(ctx, "csi-backup-mapping")
		},
			check: func(t *testing.T, a any) { require.Equal(t, "c", a.(*lapi.KV).Props["a/b"]) }},
		{name: "kv delete", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return nil, c.KeyValueStore.Delete(ctx, "csi-backup-mapping")
		}},

		{name: "resource in use cannot be deleted", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			obj, err := rdName("Vol_One")
			require.NoError(t, err)
			v := e.volume(t, obj)
			v.Status.Replicas[0].InUse = true
			// The fake controller rewrites the status; the API reads it before.
			require.NoError(t, e.c.Status().Update(ctx, v))
			return nil, c.Resources.Delete(ctx, "Vol_One", v.Status.Replicas[0].Node)
		}, mask: linstor.FailInUse},
		{name: "vd delete refused while resources exist", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return nil, c.ResourceDefinitions.DeleteVolumeDefinition(ctx, "restored", 0)
		}, mask: linstor.FailInUse},
		{name: "group delete refused while used", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return nil, c.ResourceGroups.Delete(ctx, "rg1")
		}, mask: linstor.FailExistsRscDfn},
		{name: "rd delete", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return nil, c.ResourceDefinitions.Delete(ctx, "cloned")
		}},
		{name: "rd gone", call: func(ctx context.Context, c *lapi.Client) (any, error) {
			return c.ResourceDefinitions.Get(ctx, "cloned")
		}, notFound: true},
	}
	for _, s := range steps {
		got, err := s.call(ctx, e.api)
		switch {
		case s.notFound:
			require.ErrorIs(t, err, lapi.NotFoundError, s.name)
		case s.mask != 0:
			require.Error(t, err, s.name)
			require.True(t, lapi.IsApiCallError(err, s.mask), "%s: %v does not match mask %#x", s.name, err, s.mask)
		default:
			require.NoError(t, err, s.name)
		}
		if s.check != nil {
			t.Run(s.name, func(t *testing.T) { s.check(t, got) })
		}
	}
}

// TestUnknownRoutesAndFields: LINSTOR's answer to an unknown thing, never
// a 500 or a silent success.
func TestUnknownRoutesAndFields(t *testing.T) {
	e := newFakeEnv(t)
	for _, tc := range []struct {
		method, path, body string
		status             int
		message            string
	}{
		{"GET", "/v1/no-such-route", "", 404, "not served"},
		{"PATCH", "/v1/resource-definitions", "", 404, "not served"},
		{"POST", "/v1/nodes", `{"name":"x","type":"SATELLITE"}`, 404, "not served"},
		{"POST", "/v1/resource-groups", `{"name":"gg","no_such_field":1}`, 400, "unknown field \"no_such_field\""},
		{"POST", "/v1/resource-groups", `{"name":"gg","select_filter":{"provider_list":["LVM"]}}`, 400, "not supported"},
		{"POST", "/v1/resource-definitions", `{"resource_definition":{"name":"r"},"drbd_port":7000}`, 400, "drbd_port"},
	} {
		req, err := http.NewRequest(tc.method, e.url+tc.path, strings.NewReader(tc.body))
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, tc.status, resp.StatusCode, "%s %s: %s", tc.method, tc.path, body)
		var rcs []lapi.ApiCallRc
		require.NoError(t, json.Unmarshal(body, &rcs), "%s", body)
		require.Len(t, rcs, 1)
		require.Less(t, rcs[0].RetCode, int64(0), "error codes carry the error mask")
		require.Contains(t, rcs[0].Message, tc.message)
	}
}

var _ = errors.New
