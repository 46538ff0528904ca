package csi

import (
	"math"
	"strings"
	"testing"

	lapi "github.com/LINBIT/golinstor/client"
	"github.com/LINBIT/golinstor/devicelayerkind"
	csipb "github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/plan"
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
			assert.Equal(t, plan.PolicyAutoPlaceTopology, p.PlacementPolicy)
			assert.Equal(t, RemoteAccessAnywhere, p.AllowRemoteVolumeAccess, "DRBD volumes are reachable from anywhere by default")
			assert.True(t, strings.HasPrefix(p.ResourceGroup, "sc-"), p.ResourceGroup)
			assert.NotNil(t, p.Properties)
			assert.Nil(t, p.OverProvision)
		}},
		{name: "namespaced and bare keys, any case", in: map[string]string{
			"linstor.csi.linbit.com/placementCount": "3", "storagePool": "thin fast",
		}, check: func(t *testing.T, p Parameters) {
			assert.Equal(t, int32(3), p.PlacementCount)
			assert.Equal(t, []string{"fast", "thin"}, p.StoragePools)
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
		{name: "topology keys get Aux/topology/", in: map[string]string{
			"replicasOnSame": "topology.kubernetes.io/zone Aux/rack", "replicasOnDifferent": "host",
			"xReplicasOnDifferent": "topology.kubernetes.io/zone: 2",
		}, check: func(t *testing.T, p Parameters) {
			assert.Equal(t, []string{"Aux/rack", "Aux/topology/topology.kubernetes.io/zone"}, p.ReplicasOnSame)
			assert.Equal(t, []string{"Aux/topology/host"}, p.ReplicasOnDifferent)
			assert.Equal(t, map[string]int{"Aux/topology/topology.kubernetes.io/zone": 2}, p.XReplicasOnDifferent)
		}},
		{name: "remote access rules", in: map[string]string{"allowRemoteVolumeAccess": "- fromSame: [topology.kubernetes.io/zone]"},
			check: func(t *testing.T, p Parameters) {
				assert.Equal(t, RemoteAccessPolicy{{FromSame: []string{"topology.kubernetes.io/zone"}}}, p.AllowRemoteVolumeAccess)
			}},
		{name: "remote access false", in: map[string]string{"allowRemoteVolumeAccess": "false"}, check: func(t *testing.T, p Parameters) {
			assert.Equal(t, RemoteAccessLocalOnly, p.AllowRemoteVolumeAccess)
		}},
		{name: "remote access TRUE without DRBD is what the class says", in: map[string]string{"allowRemoteVolumeAccess": "TRUE", "layerList": "storage"},
			check: func(t *testing.T, p Parameters) { assert.Equal(t, RemoteAccessAnywhere, p.AllowRemoteVolumeAccess) }},
		{name: "properties and DRBD options go on the group", in: map[string]string{
			"property.linstor.csi.linbit.com/DrbdOptions/Net/protocol": "C", "DrbdOptions/auto-quorum": "suspend-io",
			"property.linstor.csi.linbit.com/Aux/x": "y",
		}, check: func(t *testing.T, p Parameters) {
			assert.Equal(t, map[string]string{"DrbdOptions/Net/protocol": "C", "DrbdOptions/auto-quorum": "suspend-io", "Aux/x": "y"}, p.Properties)
		}},
		{name: "other namespaces and the provisioner's metadata are ignored", in: map[string]string{
			"csi.storage.k8s.io/pvc/name": "data", "csi.storage.k8s.io/pvc/namespace": "web", "csi.storage.k8s.io/pv/name": "pvc-1",
			"csi.storage.k8s.io/fstype": "xfs", "example.com/whatever": "x", "sizeKiB": "any",
		}, check: func(t *testing.T, p Parameters) { assert.Equal(t, int32(1), p.PlacementCount) }},
		{name: "nodeList is manual placement and replaces the autoplace rules", in: map[string]string{"nodeList": "b a", "clientList": "c", "placementCount": "3", "replicasOnSame": "zone"},
			check: func(t *testing.T, p Parameters) {
				assert.Equal(t, plan.PolicyManual, p.PlacementPolicy)
				assert.Equal(t, int32(0), p.PlacementCount)
				assert.Equal(t, []string{"a", "b"}, p.NodeList)
				assert.Equal(t, []string{"c"}, p.ClientList)
				assert.Nil(t, p.ReplicasOnSame)
			}},
		{name: "fs and mount options", in: map[string]string{"fsOpts": "-E nodiscard", "mountOpts": "noatime,discard", "postMountXfsOpts": "extsize 2m", "resourceGroup": "rg1", "usePvcName": "true"},
			check: func(t *testing.T, p Parameters) {
				assert.Equal(t, "-E nodiscard", p.FSOpts)
				assert.Equal(t, "noatime,discard", p.MountOpts)
				assert.Equal(t, "extsize 2m", p.PostMountXfsOpts)
				assert.Equal(t, "rg1", p.ResourceGroup)
				assert.True(t, p.UsePvcName)
			}},
		{name: "overprovision", in: map[string]string{"overProvision": "2.5"}, check: func(t *testing.T, p Parameters) {
			require.NotNil(t, p.OverProvision)
			assert.InDelta(t, 2.5, *p.OverProvision, 0)
		}},
		{name: "overprovision 0 reports no free capacity, as upstream", in: map[string]string{"overProvision": "0"}, check: func(t *testing.T, p Parameters) {
			require.NotNil(t, p.OverProvision)
			assert.Zero(t, *p.OverProvision)
		}},
		{name: "diskless pool", in: map[string]string{"disklessStoragePool": "clients"}, check: func(t *testing.T, p Parameters) {
			assert.Equal(t, "clients", p.DisklessStoragePool)
		}},
		{name: "unknown parameter is named", in: map[string]string{"linstor.csi.linbit.com/placmentCount": "2"},
			wantErr: `parameters[linstor.csi.linbit.com/placmentCount]: Unsupported value: "placmentCount": supported values: "allowRemoteVolumeAccess"`},
		{name: "unknown bare parameter", in: map[string]string{"replicas": "2"}, wantErr: `parameters[replicas]: Unsupported value: "replicas"`},
		{name: "bad count", in: map[string]string{"placementCount": "three"}, wantErr: `parameters[placementCount]: Invalid value: "three": expected a whole number of diskful replicas from 1 to 32`},
		{name: "zero count", in: map[string]string{"placementCount": "0"}, wantErr: "from 1 to 32"},
		{name: "bad bool", in: map[string]string{"disklessOnRemaining": "maybe"}, wantErr: `parameters[disklessOnRemaining]: Invalid value: "maybe": expected true or false`},
		{name: "a layer the agent does not build", in: map[string]string{"layerList": "drbd luks storage"}, wantErr: `layer "luks" is not supported`},
		{name: "storage must be last", in: map[string]string{"layerList": "storage drbd"}, wantErr: "expected the storage layer at the bottom of the list"},
		{name: "encryption refused", in: map[string]string{"encryption": "true"}, wantErr: `parameters[encryption]: Invalid value: "true": encryption (a LUKS layer) is not supported`},
		{name: "encryption false is fine", in: map[string]string{"encryption": "false"}},
		{name: "NFS refused", in: map[string]string{"nfsServiceName": "x"}, wantErr: "parameters[nfsServiceName]: Invalid value: \"x\": NFS exports of ReadWriteMany volumes are not supported"},
		{name: "IO limits refused", in: map[string]string{"qos.linbit.com/wbps": "10Mi"}, wantErr: "parameters[qos.linbit.com/wbps]: Invalid value: \"10Mi\": IO limits are not supported"},
		{name: "balanced refused", in: map[string]string{"placementPolicy": "Balanced"}, wantErr: `Balanced placement is not implemented by this driver`},
		{name: "manual without nodes", in: map[string]string{"placementPolicy": "Manual"}, wantErr: "parameters[placementPolicy]: Invalid value: \"Manual\": expected nodeList with it"},
		{name: "clients need nodes", in: map[string]string{"clientList": "a"}, wantErr: "parameters[clientList]: Invalid value: \"a\": expected nodeList with it"},
		{name: "clients need DRBD", in: map[string]string{"clientList": "a", "nodeList": "b", "layerList": "storage"}, wantErr: "diskless clients need the DRBD layer"},
		{name: "bad remote access", in: map[string]string{"allowRemoteVolumeAccess": "sometimes"}, wantErr: "expected true, false or a YAML list"},
		{name: "bad xReplicas", in: map[string]string{"xReplicasOnDifferent": "zone: many"}, wantErr: `parameters[xReplicasOnDifferent]`},
		{name: "bad overProvision", in: map[string]string{"overProvision": "-1"}, wantErr: `parameters[overProvision]: Invalid value: "-1": expected a finite decimal factor of at least 0`},
		{name: "empty property name", in: map[string]string{"property.linstor.csi.linbit.com/": "x"}, wantErr: "expected a property name"},
		{name: "two spellings of one parameter", in: map[string]string{"placementCount": "2", "linstor.csi.linbit.com/autoPlace": "3"}, wantErr: "the same setting as parameter"},
		{name: "a resource group name LINSTOR refuses", in: map[string]string{"resourceGroup": "a b"}, wantErr: `parameters[resourceGroup]: Invalid value: "a b": expected a resource group name`},
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

// TestGeneratedResourceGroupNames pins the names of groups the driver has
// already made: a class must keep its group across driver versions. The
// names are those of the driver before the parser moved to the plan.
func TestGeneratedResourceGroupNames(t *testing.T) {
	for want, params := range map[string]map[string]string{
		"sc-a1520865-f2a9-5fee-9d05-0cf23600c2c2": nil,
		"sc-cfa30993-f2dd-5e34-85ba-98fffb7a5d39": {"placementCount": "2", "storagePool": "thin"},
		"sc-550702ca-3c36-5345-a3a1-ba4fbd36d212": {"linstor.csi.linbit.com/placementCount": "3", "linstor.csi.linbit.com/storagePool": "thin",
			"linstor.csi.linbit.com/layerList": "storage", "csi.storage.k8s.io/fstype": "ext4"},
		"sc-80eaa3f0-2f67-5ae1-8dd1-4765654f6141": {"replicasOnDifferent": "topology.kubernetes.io/zone", "DrbdOptions/Net/protocol": "C",
			"property.linstor.csi.linbit.com/Aux/x": "y", "disklessOnRemaining": "true"},
		"sc-6ed60c7d-3dda-5563-aa35-4999c5187472": {"nodeList": "a b", "placementCount": "3", "replicasOnSame": "zone"},
		"sc-a16ea042-7421-575b-b2b2-679a946539a3": {"xReplicasOnDifferent": "zone: 2", "placementCount": "4", "doNotPlaceWithRegex": "^db-"},
	} {
		p, err := ParseParameters(params)
		require.NoError(t, err)
		assert.Equal(t, want, p.ResourceGroup, "%v", params)
	}
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

func TestFreeKiB(t *testing.T) {
	pool := lapi.StoragePool{TotalCapacity: 100, FreeCapacity: 40}
	factor := func(x float64) *float64 { return &x }
	assert.Equal(t, int64(40), freeKiB(pool, nil))
	assert.Equal(t, int64(90), freeKiB(pool, factor(1.5)), "total × factor − used")
	assert.Equal(t, int64(0), freeKiB(pool, factor(0)))
	assert.Equal(t, int64(math.MaxInt64/kib), freeKiB(pool, factor(1e300)), "a huge factor is clamped, not wrapped")
	assert.Equal(t, int64(0), freeKiB(lapi.StoragePool{FreeCapacity: -1}, nil))
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

// FuzzParseParameters: the driver's layer over the plan's parser turns
// every class the parser accepts into parameters CreateVolume can use, and
// its errors name the parameter.
func FuzzParseParameters(f *testing.F) {
	f.Add("placementCount", "2", "allowRemoteVolumeAccess", "- fromSame: [zone]")
	f.Add("linstor.csi.linbit.com/layerList", "drbd storage", "xReplicasOnDifferent", "zone: 2")
	f.Add("property.linstor.csi.linbit.com/Aux/x", "y", "nodeList", "a b")
	f.Add("overProvision", "1e3", "DrbdOptions/Net/protocol", "C")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		p, err := ParseParameters(map[string]string{k1: v1, k2: v2})
		if err != nil {
			if !strings.Contains(err.Error(), "parameters[") {
				t.Fatalf("error does not name the parameter: %v", err)
			}
			return
		}
		if len(p.LayerList) == 0 || p.LayerList[len(p.LayerList)-1] != devicelayerkind.Storage {
			t.Fatalf("layers %v do not end in storage", p.LayerList)
		}
		if (p.PlacementPolicy == plan.PolicyManual) != (len(p.NodeList) > 0) {
			t.Fatalf("policy %s with nodeList %v", p.PlacementPolicy, p.NodeList)
		}
		if p.PlacementPolicy != plan.PolicyManual && (p.PlacementCount < 1 || p.PlacementCount > 32) {
			t.Fatalf("placement count %d accepted", p.PlacementCount)
		}
		if p.ResourceGroup == "" || p.AllowRemoteVolumeAccess == nil || p.Properties == nil || p.DisklessStoragePool == "" {
			t.Fatalf("defaults missing: %+v", p)
		}
		if p.OverProvision != nil && (*p.OverProvision < 0 || math.IsInf(*p.OverProvision, 0) || math.IsNaN(*p.OverProvision)) {
			t.Fatalf("overProvision %v accepted", *p.OverProvision)
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
