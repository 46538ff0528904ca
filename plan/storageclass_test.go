package plan

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
)

func testClass(name string, params map[string]string) storagev1.StorageClass {
	return storagev1.StorageClass{
		ObjectMeta:  metav1.ObjectMeta{Name: name},
		Provisioner: CSIProvisioner,
		Parameters:  params,
	}
}

func TestResourceGroupFromStorageClass(t *testing.T) {
	tests := []struct {
		name   string
		params map[string]string
		want   func(rg *storagev1alpha1.ResourceGroup)
	}{
		{
			name:   "defaults",
			params: nil,
			want:   func(*storagev1alpha1.ResourceGroup) {},
		},
		{
			name: "prefixed and bare forms, any case",
			params: map[string]string{
				"linstor.csi.linbit.com/placementCount":     "3",
				"linstor.csi.linbit.com/storagePool":        "thin ssd thin",
				"REPLICASONDIFFERENT":                       "topology.kubernetes.io/zone",
				"replicasOnSame":                            "Aux/rack=r1 topology/region",
				"disklessOnRemaining":                       "True",
				"linstor.csi.linbit.com/layerList":          "DRBD storage",
				"encryption":                                "0",
				"linstor.csi.linbit.com/resourceGroup":      "rg-fast",
				"csi.storage.k8s.io/fstype":                 "xfs",
				"csi.storage.k8s.io/node-stage-secret-name": "x",
				"fsOpts":                  "-b 4096",
				"mountOpts":               "noatime",
				"allowRemoteVolumeAccess": "FALSE",
				"disklessStoragePool":     "diskless",
			},
			want: func(rg *storagev1alpha1.ResourceGroup) {
				rg.Name = "rg-fast"
				rg.PlaceCount = 3
				rg.StoragePools = []string{"ssd", "thin"}
				rg.ReplicasOnDifferent = []string{"Aux/topology/topology.kubernetes.io/zone"}
				rg.ReplicasOnSame = []string{"Aux/rack=r1", "Aux/topology/topology/region"}
				rg.DisklessOnRemaining = true
				rg.FSType = "xfs"
				rg.FSOpts = "-b 4096"
				rg.MountOpts = "noatime"
				rg.AllowRemoteVolumeAccess = "false"
				rg.DisklessStoragePool = "diskless"
			},
		},
		{
			name: "drbd options and properties, bare and prefixed",
			params: map[string]string{
				"DrbdOptions/Net/protocol":                       "C",
				"linstor.csi.linbit.com/DrbdOptions/auto-quorum": "suspend-io",
				"property.linstor.csi.linbit.com/StorDriver/foo": "bar",
				"autoPlace":               "",
				"allowRemoteVolumeAccess": "- fromSame:\n  - topology.kubernetes.io/zone\n",
				"placementPolicy":         "FollowTopology",
				"doNotPlaceWithRegex":     "^db-.*",
				"usePvcName":              "true",
				"postMountXfsOpts":        "extsize 2m",
				"overProvision":           "1.5",
			},
			want: func(rg *storagev1alpha1.ResourceGroup) {
				rg.DrbdOptions = map[string]string{"Net/protocol": "C", "auto-quorum": "suspend-io"}
				rg.Properties = map[string]string{"StorDriver/foo": "bar"}
				rg.AllowRemoteVolumeAccess = "- fromSame:\n  - topology.kubernetes.io/zone"
				rg.PlacementPolicy = "FollowTopology"
				rg.DoNotPlaceWithRegex = "^db-.*"
				rg.UsePVCName = true
				rg.PostMountXFSOpts = "extsize 2m"
				rg.OverProvision = "1.5"
			},
		},
		{
			name:   "nodeList and clientList: Manual placement on them",
			params: map[string]string{"nodeList": "b a", "clientList": "c"},
			want: func(rg *storagev1alpha1.ResourceGroup) {
				rg.PlacementPolicy, rg.PlaceCount, rg.NodeList, rg.ClientList = "Manual", 2, []string{"a", "b"}, []string{"c"}
			},
		},
		{
			name:   "the provisioner's extra metadata",
			params: map[string]string{"csi.storage.k8s.io/pvc/name": "data", "csi.storage.k8s.io/pvc/namespace": "web", "csi.storage.k8s.io/pv/name": "pvc-1"},
			want:   func(*storagev1alpha1.ResourceGroup) {},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := testClass("sc1", tt.params)
			got, errs, _ := resourceGroupFromStorageClass(&sc)
			require.Empty(t, errs)
			want := storagev1alpha1.ResourceGroup{
				Name: "sc1", StorageClasses: []string{"sc1"}, PlaceCount: 1,
				LayerList: []string{"drbd", "storage"}, FSType: "ext4",
			}
			tt.want(&want)
			assert.Equal(t, want, got)
		})
	}
}

func TestResourceGroupFromStorageClassErrors(t *testing.T) {
	tests := []struct {
		key, value string
		want       string // expected error text (substring)
	}{
		{"placementCount", "three", `parameters[placementCount]: Invalid value: "three": expected a whole number of diskful replicas from 1 to 32`},
		{"autoPlace", "0", `expected a whole number of diskful replicas from 1 to 32`},
		{"autoPlace", "33", `from 1 to 32`},
		{"linstor.csi.linbit.com/placementCnt", "3", `parameters[linstor.csi.linbit.com/placementCnt]: Unsupported value: "placementCnt": supported values: "allowRemoteVolumeAccess", "autoPlace"`},
		{"storagePool", "", `expected one or more storage pool names`},
		{"storagePool", "ok bad/pool", `"bad/pool": expected a storage pool name`},
		{"disklessOnRemaining", "yes", `parameters[disklessOnRemaining]: Invalid value: "yes": expected true or false`},
		{"encryption", "maybe", `expected true or false`},
		{"encryption", "true", `encryption (a LUKS layer) is not supported`},
		{"usePvcName", "", `expected true or false`},
		{"layerList", "drbd zfs storage", `unknown layer "zfs"; expected layers from drbd, storage`},
		{"layerList", "luks storage", `layer "luks" is not supported: the agent builds only drbd and storage layers`},
		{"layerList", "drbd drbd storage", `layer "drbd" is listed twice`},
		{"layerList", " ", `expected a space-separated layer list`},
		{"replicasOnDifferent", "zone=a", `key=value is only meaningful for replicasOnSame`},
		{"replicasOnSame", "zone=", `expected a value after =`},
		{"replicasOnSame", "Aux/", `expected a node label or property key`},
		{"allowRemoteVolumeAccess", "sometimes", `expected true, false or a YAML list of rules`},
		{"allowRemoteVolumeAccess", "- fromDifferent: [a]", `expected true, false or a YAML list`},
		{"allowRemoteVolumeAccess", "- fromSame: ['']", `fromSame holds an empty key`},
		{"resourceGroup", "bad name", `expected a resource group name`},
		{"disklessStoragePool", "", `expected a storage pool name`},
		{"doNotPlaceWithRegex", "(", `expected a regular expression`},
		{"placementPolicy", "Random", `Unsupported value: "Random": supported values: "AutoPlace", "AutoPlaceTopology", "FollowTopology", "Manual"`},
		{"placementPolicy", "balanced", `Balanced placement is not implemented by this driver`},
		{"placementPolicy", "Manual", `expected nodeList with it`},
		{"clientList", "c", `expected nodeList with it`},
		{"nfsServiceName", "nfs", `NFS exports of ReadWriteMany volumes are not supported`},
		{"qos.linbit.com/riops", "4000", `IO limits are not supported`},
		{"nodeList", "", `expected a space-separated list of node names`},
		{"overProvision", "-2", `expected a finite decimal factor of at least 0`},
		{"overProvision", "NaN", `expected a finite decimal factor of at least 0`},
		{"DrbdOptions/", "x", `expected a property name after the namespace`},
		{"property.linstor.csi.linbit.com/", "x", `expected a property name`},
		{"csi.storage.k8s.io/fstype", "", `expected ext4 or xfs`},
		{"csi.storage.k8s.io/provisioner-secret", "x", `Unsupported value: "provisioner-secret"`},
		{"overProvision", "Inf", `expected a finite decimal factor of at least 0`},
		{"xReplicasOnDifferent", "zone: 33", `expected a number of replicas from 1 to 32`},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			sc := testClass("sc1", map[string]string{tt.key: tt.value, "placementCount": "2"})
			if tt.key == "placementCount" || tt.key == "autoPlace" { // the same setting: another value would conflict
				sc.Parameters = map[string]string{tt.key: tt.value}
			}
			_, errs, _ := resourceGroupFromStorageClass(&sc)
			require.Len(t, errs, 1, "errors: %v", errs)
			assert.Equal(t, "parameters["+tt.key+"]", errs[0].Field)
			assert.Contains(t, errs[0].Error(), tt.want)
		})
	}
}

func TestResourceGroupFromStorageClassAllErrors(t *testing.T) {
	sc := testClass("sc1", map[string]string{"placementCount": "x", "encryption": "y", "bogus": "z"})
	_, errs, _ := resourceGroupFromStorageClass(&sc)
	require.Len(t, errs, 3)
	// sorted by parameter name, so the order is stable
	assert.Equal(t, []string{"parameters[bogus]", "parameters[encryption]", "parameters[placementCount]"},
		[]string{errs[0].Field, errs[1].Field, errs[2].Field})
}

func TestResourceGroupsFromStorageClasses(t *testing.T) {
	classes := []storagev1.StorageClass{
		testClass("z-shared", map[string]string{"resourceGroup": "shared", "placementCount": "2"}),
		testClass("b-shared", map[string]string{"resourceGroup": "shared", "placementCount": "2"}),
		testClass("a-own", map[string]string{"placementCount": "3"}),
		testClass("c-conflict", map[string]string{"resourceGroup": "shared", "placementCount": "3"}),
		testClass("d-broken", map[string]string{"placementCount": "many"}),
	}
	groups, errs, _ := resourceGroupsFromStorageClasses(classes)
	require.Len(t, groups, 2)
	assert.Equal(t, "a-own", groups[0].Name)
	assert.Equal(t, "shared", groups[1].Name)
	assert.Equal(t, []string{"b-shared", "z-shared"}, groups[1].StorageClasses)
	require.Len(t, errs, 2)
	require.Len(t, errs["c-conflict"], 1)
	assert.Contains(t, errs["c-conflict"][0].Error(), `resource group "shared" is also used by StorageClass b-shared with different settings (placementCount: 2 vs 3)`)
	require.Len(t, errs["d-broken"], 1)

	// input order does not matter
	reversed := []storagev1.StorageClass{classes[4], classes[3], classes[2], classes[1], classes[0]}
	groups2, errs2, _ := resourceGroupsFromStorageClasses(reversed)
	assert.Equal(t, groups, groups2)
	assert.Equal(t, errs, errs2)

	groups3, errs3, _ := resourceGroupsFromStorageClasses(classes[:3])
	assert.Nil(t, errs3)
	assert.Len(t, groups3, 2)
}

func TestNormalizeTopologyKey(t *testing.T) {
	assert.Equal(t, "Aux/topology/topology.kubernetes.io/zone", NormalizeTopologyKey("topology.kubernetes.io/zone"))
	assert.Equal(t, "Aux/rack", NormalizeTopologyKey("Aux/rack"))
}

// FuzzResourceGroupFromStorageClass: any parameter map yields either a group
// or errors rooted at parameters[...], never a panic, and a valid group's
// settings are self-consistent.
func FuzzResourceGroupFromStorageClass(f *testing.F) {
	f.Add("placementCount", "3", "storagePool", "thin")
	f.Add("linstor.csi.linbit.com/replicasOnSame", "zone=a rack", "DrbdOptions/Net/protocol", "C")
	f.Add("allowRemoteVolumeAccess", "- fromSame: [zone]", "layerList", "drbd storage")
	f.Add("csi.storage.k8s.io/fstype", "xfs", "resourceGroup", "rg")
	f.Add("other/thing", "x", "autoPlace", "")
	f.Add("placementCount", "2", "autoPlace", "3")
	f.Add("linstor.csi.linbit.com/PLACEMENTCOUNT", "1", "placementcount", "2")
	f.Add("DrbdOptions/Net/protocol", "A", "property.linstor.csi.linbit.com/DrbdOptions/Net/protocol", "C")
	f.Add("xReplicasOnDifferent", "zone: 2", "qos.linbit.com/rbps", "40Mi")
	f.Add("nfsSquash", "root_squash", "nfsRecoveryVolumeSize", "300Mi")
	f.Add("nodeList", "a b", "clientList", "c")
	f.Add("clientList", "c", "layerList", "storage")
	f.Add("encryption", "true", "sizeKiB", "x")
	f.Add("placementPolicy", "manual", "overProvision", "0")
	f.Add("layerList", "storage drbd", "csi.storage.k8s.io/fstype", "btrfs")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		sc := testClass("sc", map[string]string{k1: v1, k2: v2})
		rg, errs, warnings := resourceGroupFromStorageClass(&sc)
		for _, e := range append(errs, warnings...) {
			require.True(t, strings.HasPrefix(e.Field, "parameters["), "error outside parameters: %v", e)
		}
		id := parameterIdentity(k1)
		require.False(t, k1 != k2 && id != "" && id == parameterIdentity(k2) && v1 != v2 && len(errs) == 0, "%s=%q and %s=%q set the same parameter, yet no error", k1, v1, k2, v2)
		again, errs2, _ := resourceGroupFromStorageClass(&sc)
		require.False(t, len(errs2) != len(errs) || !reflect.DeepEqual(again, rg), "not deterministic: %+v vs %+v", rg, again)
		if len(errs) > 0 {
			return
		}
		require.False(t, rg.PlaceCount < 1 || rg.PlaceCount > 32 || len(rg.LayerList) == 0 || rg.Name == "", "inconsistent group %+v", rg)
		for _, k := range append(rg.ReplicasOnSame, rg.ReplicasOnDifferent...) {
			require.True(t, strings.HasPrefix(k, "Aux/"), "topology key %q without Aux/", k)
		}
		for k, x := range rg.XReplicasOnDifferent {
			require.False(t, !strings.HasPrefix(k, "Aux/") || x < 1 || x > 32, "xReplicasOnDifferent %q: %d", k, x)
		}
		require.False(t, layerOrderProblem(rg.LayerList) != "" || (rg.FSType != "ext4" && rg.FSType != "xfs"), "accepted layers %v, fsType %q", rg.LayerList, rg.FSType)
		for _, l := range rg.LayerList {
			require.Contains(t, supportedLayers, l, "accepted a layer the agent does not build")
		}
		require.True(t, rg.PlacementPolicy == "" || slices.Contains(placementPolicies, rg.PlacementPolicy), "policy %q", rg.PlacementPolicy)
		require.Equal(t, rg.PlacementPolicy == PolicyManual, len(rg.NodeList) > 0, "Manual placement is exactly a nodeList: %+v", rg)
		require.False(t, len(rg.NodeList) > 0 && (int(rg.PlaceCount) != len(rg.NodeList) || rg.DisklessOnRemaining || rg.DoNotPlaceWithRegex != "" ||
			len(rg.ReplicasOnSame)+len(rg.ReplicasOnDifferent)+len(rg.XReplicasOnDifferent) > 0), "nodeList kept autoplace settings: %+v", rg)
		require.False(t, len(rg.ClientList) > 0 && (len(rg.NodeList) == 0 || !slices.Contains(rg.LayerList, "drbd")), "clients without nodeList or DRBD: %+v", rg)
		if _, err := ParseRemoteAccess(rg.AllowRemoteVolumeAccess); rg.AllowRemoteVolumeAccess != "" && err != nil {
			t.Fatalf("accepted allowRemoteVolumeAccess %q reads back with %v", rg.AllowRemoteVolumeAccess, err)
		}
	})
}
