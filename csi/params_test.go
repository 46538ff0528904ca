package csi

import (
	"strings"
	"testing"

	"github.com/LINBIT/golinstor/devicelayerkind"
	csipb "github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseParameters(t *testing.T) {
	drbdStorage := []devicelayerkind.DeviceLayerKind{devicelayerkind.Drbd, devicelayerkind.Storage}
	tests := []struct {
		name    string
		in      map[string]string
		check   func(t *testing.T, p Parameters)
		wantErr string
	}{
		{name: "defaults", in: nil, check: func(t *testing.T, p Parameters) {
			assert.Equal(t, int32(1), p.PlacementCount)
			assert.Equal(t, drbdStorage, p.LayerList)
			assert.Equal(t, DefaultDisklessStoragePool, p.DisklessStoragePool)
			assert.Equal(t, PolicyAutoPlaceTopology, p.PlacementPolicy)
			assert.Equal(t, RemoteAccessAnywhere, p.AllowRemoteVolumeAccess, "DRBD volumes are reachable from anywhere by default")
			assert.True(t, strings.HasPrefix(p.ResourceGroup, "sc-"), p.ResourceGroup)
		}},
		{name: "namespaced and bare keys, any case", in: map[string]string{
			"linstor.csi.linbit.com/placementCount": "3", "storagePool": "thin fast",
		}, wantErr: "", check: func(t *testing.T, p Parameters) {
			assert.Equal(t, int32(3), p.PlacementCount)
			assert.Equal(t, []string{"thin", "fast"}, p.StoragePools)
		}},
		{name: "case-insensitive key", in: map[string]string{"linstor.csi.linbit.com/PLACEMENTCOUNT": "2", "linstor.csi.linbit.com/disklessonremaining": "true"},
			check: func(t *testing.T, p Parameters) {
				assert.Equal(t, int32(2), p.PlacementCount)
				assert.True(t, p.DisklessOnRemaining)
			}},
		{name: "autoPlace is placementCount", in: map[string]string{"autoPlace": "2"}, check: func(t *testing.T, p Parameters) {
			assert.Equal(t, int32(2), p.PlacementCount)
		}},
		{name: "storage only is local only", in: map[string]string{"layerList": "storage"}, check: func(t *testing.T, p Parameters) {
			assert.Equal(t, []devicelayerkind.DeviceLayerKind{devicelayerkind.Storage}, p.LayerList)
			assert.Equal(t, RemoteAccessLocalOnly, p.AllowRemoteVolumeAccess)
		}},
		{name: "topology keys get Aux/", in: map[string]string{
			"replicasOnSame": "topology.kubernetes.io/zone Aux/rack", "replicasOnDifferent": "host",
			"xReplicasOnDifferent": "topology.kubernetes.io/zone: 2",
		}, check: func(t *testing.T, p Parameters) {
			assert.Equal(t, []string{"Aux/topology.kubernetes.io/zone", "Aux/rack"}, p.ReplicasOnSame)
			assert.Equal(t, []string{"Aux/host"}, p.ReplicasOnDifferent)
			assert.Equal(t, map[string]int{"Aux/topology.kubernetes.io/zone": 2}, p.XReplicasOnDifferent)
		}},
		{name: "remote access rules", in: map[string]string{"allowRemoteVolumeAccess": "- fromSame: [topology.kubernetes.io/zone]"},
			check: func(t *testing.T, p Parameters) {
				assert.Equal(t, RemoteAccessPolicy{{FromSame: []string{"topology.kubernetes.io/zone"}}}, p.AllowRemoteVolumeAccess)
			}},
		{name: "remote access false", in: map[string]string{"allowRemoteVolumeAccess": "false"}, check: func(t *testing.T, p Parameters) {
			assert.Equal(t, RemoteAccessLocalOnly, p.AllowRemoteVolumeAccess)
		}},
		{name: "properties and DRBD options go on the group", in: map[string]string{
			"property.linstor.csi.linbit.com/DrbdOptions/Net/protocol": "C", "DrbdOptions/auto-quorum": "suspend-io",
		}, check: func(t *testing.T, p Parameters) {
			assert.Equal(t, map[string]string{"DrbdOptions/Net/protocol": "C", "DrbdOptions/auto-quorum": "suspend-io"}, p.Properties)
		}},
		{name: "other namespaces are ignored", in: map[string]string{
			"csi.storage.k8s.io/pvc/name": "data", "csi.storage.k8s.io/fstype": "xfs", "example.com/whatever": "x",
		}, check: func(t *testing.T, p Parameters) { assert.Equal(t, int32(1), p.PlacementCount) }},
		{name: "nodeList is manual placement", in: map[string]string{"nodeList": "a b", "clientList": "c", "placementCount": "3"},
			check: func(t *testing.T, p Parameters) {
				assert.Equal(t, PolicyManual, p.PlacementPolicy)
				assert.Equal(t, int32(0), p.PlacementCount)
				assert.Equal(t, []string{"a", "b"}, p.NodeList)
			}},
		{name: "fs and mount options", in: map[string]string{"fsOpts": "-E nodiscard", "mountOpts": "noatime,discard", "resourceGroup": "rg1"},
			check: func(t *testing.T, p Parameters) {
				assert.Equal(t, "-E nodiscard", p.FSOpts)
				assert.Equal(t, "noatime,discard", p.MountOpts)
				assert.Equal(t, "rg1", p.ResourceGroup)
			}},
		{name: "overprovision", in: map[string]string{"overProvision": "2.5"}, check: func(t *testing.T, p Parameters) {
			require.NotNil(t, p.OverProvision)
			assert.InDelta(t, 2.5, *p.OverProvision, 0)
		}},
		{name: "unknown parameter is named", in: map[string]string{"linstor.csi.linbit.com/placmentCount": "2"}, wantErr: `unknown parameter "linstor.csi.linbit.com/placmentCount"`},
		{name: "unknown bare parameter", in: map[string]string{"replicas": "2"}, wantErr: `unknown parameter "replicas"`},
		{name: "bad count", in: map[string]string{"placementCount": "three"}, wantErr: `parameter "placementCount": want a replica count`},
		{name: "zero count", in: map[string]string{"placementCount": "0"}, wantErr: "want a replica count from 1 to 16"},
		{name: "bad bool", in: map[string]string{"disklessOnRemaining": "maybe"}, wantErr: `parameter "disklessOnRemaining": want true or false`},
		{name: "unknown layer", in: map[string]string{"layerList": "drbd luks storage"}, wantErr: `unknown or unsupported layer "luks"`},
		{name: "storage must be last", in: map[string]string{"layerList": "storage drbd"}, wantErr: "the last layer must be storage"},
		{name: "encryption refused", in: map[string]string{"encryption": "true"}, wantErr: "encryption (LUKS) is not supported"},
		{name: "encryption false is fine", in: map[string]string{"encryption": "false"}},
		{name: "NFS refused", in: map[string]string{"nfsServiceName": "x"}, wantErr: "NFS exports are not supported"},
		{name: "balanced refused", in: map[string]string{"placementPolicy": "Balanced"}, wantErr: `unknown or unsupported placement policy "Balanced"`},
		{name: "manual without nodes", in: map[string]string{"placementPolicy": "Manual"}, wantErr: "Manual needs nodeList"},
		{name: "clients need DRBD", in: map[string]string{"clientList": "a", "layerList": "storage"}, wantErr: "diskless clients need the DRBD layer"},
		{name: "bad remote access", in: map[string]string{"allowRemoteVolumeAccess": "sometimes"}, wantErr: "want true, false or a list"},
		{name: "bad xReplicas", in: map[string]string{"xReplicasOnDifferent": "zone: many"}, wantErr: `parameter "xReplicasOnDifferent"`},
		{name: "empty property name", in: map[string]string{"property.linstor.csi.linbit.com/": "x"}, wantErr: "empty property name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParseParameters(tt.in)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			if tt.check != nil {
				tt.check(t, p)
			}
		})
	}
}

func TestGeneratedResourceGroupIsStable(t *testing.T) {
	a, err := ParseParameters(map[string]string{"placementCount": "2", "storagePool": "thin"})
	require.NoError(t, err)
	b, err := ParseParameters(map[string]string{"linstor.csi.linbit.com/storagePool": "thin", "autoPlace": "2", "csi.storage.k8s.io/pvc/name": "x"})
	require.NoError(t, err)
	c, err := ParseParameters(map[string]string{"placementCount": "3", "storagePool": "thin"})
	require.NoError(t, err)
	assert.Equal(t, a.ResourceGroup, b.ResourceGroup, "equal classes share a group")
	assert.NotEqual(t, a.ResourceGroup, c.ResourceGroup)
}

func TestRemoteAccessPolicy(t *testing.T) {
	zoneA := map[string]string{TopologyKeyHostname: "n1", "zone": "a"}
	zoneA2 := map[string]string{TopologyKeyHostname: "n2", "zone": "a"}
	zoneB := map[string]string{TopologyKeyHostname: "n3", "zone": "b"}
	zonePolicy := RemoteAccessPolicy{{FromSame: []string{"zone"}}}
	assert.True(t, RemoteAccessAnywhere.Allows(zoneB, zoneA))
	assert.False(t, RemoteAccessLocalOnly.Allows(zoneA2, zoneA))
	assert.True(t, RemoteAccessLocalOnly.Allows(zoneA, zoneA))
	assert.True(t, zonePolicy.Allows(zoneA2, zoneA))
	assert.False(t, zonePolicy.Allows(zoneB, zoneA))
	assert.Equal(t, []map[string]string{{}}, RemoteAccessAnywhere.AccessibleSegments(zoneA))
	assert.Equal(t, []map[string]string{{"zone": "a"}}, zonePolicy.AccessibleSegments(zoneA))
	both := RemoteAccessPolicy{{FromSame: []string{"zone", TopologyKeyHostname}}, {FromSame: []string{"zone"}}}
	assert.Equal(t, []map[string]string{{"zone": "a"}}, both.AccessibleSegments(zoneA), "a wider segment makes a narrower one redundant")
	for _, p := range []RemoteAccessPolicy{RemoteAccessAnywhere, RemoteAccessLocalOnly, zonePolicy} {
		var back RemoteAccessPolicy
		require.NoError(t, back.UnmarshalText([]byte(p.String())))
		assert.Equal(t, p, back, "String reads back")
	}
}

func TestLinstorName(t *testing.T) {
	assert.Equal(t, "pvc-0a1b2c3d-1111-2222-3333-444455556666", linstorName("pvc-0a1b2c3d-1111-2222-3333-444455556666"))
	long := strings.Repeat("x", 128)
	assert.Equal(t, linstorName(long), linstorName(long), "stable")
	assert.Regexp(t, resourceNameRE, linstorName(long))
	assert.Regexp(t, resourceNameRE, linstorName("sanity/with spaces"))
	assert.NotEqual(t, linstorName("a b"), linstorName("a c"))
}

func TestRequestedKiB(t *testing.T) {
	tests := []struct {
		req, lim int64
		want     uint64
		wantErr  string
	}{
		{req: 0, lim: 0, want: minVolumeBytes / kib},
		{req: 1 << 30, want: 1 << 20},
		{req: 1000, lim: 0, want: minVolumeBytes / kib},
		{req: 1 << 20, lim: 2 << 20, want: 2 << 10},
		{req: (1 << 30) + 1, want: (1 << 20) + 1},
		{req: 2 << 30, lim: 1 << 30, wantErr: "exceed the limit"},
		{req: -1, wantErr: "negative"},
		{req: 0, lim: 100, wantErr: "below one KiB"},
	}
	for _, tt := range tests {
		got, err := requestedKiB(capRange(tt.req, tt.lim))
		if tt.wantErr != "" {
			require.ErrorContains(t, err, tt.wantErr, "req %d lim %d", tt.req, tt.lim)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, tt.want, got, "req %d lim %d", tt.req, tt.lim)
	}
}

func TestPage(t *testing.T) {
	s, e, next, err := page(5, "", 2)
	require.NoError(t, err)
	assert.Equal(t, []any{0, 2, "2"}, []any{s, e, next})
	s, e, next, err = page(5, "4", 2)
	require.NoError(t, err)
	assert.Equal(t, []any{4, 5, ""}, []any{s, e, next})
	_, _, _, err = page(5, "x", 0)
	require.ErrorContains(t, err, "not a valid position")
	_, _, _, err = page(5, "6", 0)
	require.ErrorContains(t, err, "not a valid position")
}

func TestMountOptions(t *testing.T) {
	assert.Equal(t, []string{"noatime", "discard"}, mountOptions("ext4", []string{"noatime"}, "discard, noatime", false))
	assert.Equal(t, []string{"nouuid", "ro"}, mountOptions("xfs", nil, "", true), "XFS always gets nouuid: restored and cloned volumes share their UUID")
}

func FuzzParseParameters(f *testing.F) {
	f.Add("placementCount", "2", "allowRemoteVolumeAccess", "- fromSame: [zone]")
	f.Add("linstor.csi.linbit.com/layerList", "drbd storage", "xReplicasOnDifferent", "zone: 2")
	f.Add("property.linstor.csi.linbit.com/Aux/x", "y", "nodeList", "a b")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		p, err := ParseParameters(map[string]string{k1: v1, k2: v2})
		if err != nil {
			if !strings.Contains(err.Error(), "parameter") {
				t.Fatalf("error does not name the parameter: %v", err)
			}
			return
		}
		if len(p.LayerList) == 0 || p.LayerList[len(p.LayerList)-1] != devicelayerkind.Storage {
			t.Fatalf("layers %v do not end in storage", p.LayerList)
		}
		if p.PlacementPolicy != PolicyManual && (p.PlacementCount < 1 || p.PlacementCount > 16) {
			t.Fatalf("placement count %d accepted", p.PlacementCount)
		}
		if p.ResourceGroup == "" || p.AllowRemoteVolumeAccess == nil {
			t.Fatalf("defaults missing: %+v", p)
		}
		var back RemoteAccessPolicy
		if err := back.UnmarshalText([]byte(p.AllowRemoteVolumeAccess.String())); err != nil {
			t.Fatalf("policy %v does not read back: %v", p.AllowRemoteVolumeAccess, err)
		}
	})
}

func capRange(req, lim int64) *csipb.CapacityRange {
	return &csipb.CapacityRange{RequiredBytes: req, LimitBytes: lim}
}
