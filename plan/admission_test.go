package plan_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	piraeusv1 "github.com/piraeusctl/piraeusctl/api/v1"
	"github.com/piraeusctl/piraeusctl/plan"
)

func testSchemas(t testing.TB) *plan.Schemas {
	t.Helper()
	s, err := plan.NewSchemas()
	require.NoError(t, err)
	return s
}

// satelliteConfig builds a LinstorSatelliteConfiguration (JSON) whose
// spec.storagePools is the given YAML list.
func satelliteConfig(t testing.TB, pools string) []byte {
	t.Helper()
	doc := "apiVersion: piraeus.io/v1\nkind: LinstorSatelliteConfiguration\nmetadata:\n  name: storage\nspec:\n  storagePools:\n" + indent(pools, "    ")
	data, err := yaml.YAMLToJSON([]byte(doc))
	require.NoError(t, err)
	return data
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n") + "\n"
}

// fieldsOf renders each error as "field: message", the part a webhook denial shows.
func fieldsOf(errs plan.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Field+": "+e.Message)
	}
	return out
}

func TestValidateObject(t *testing.T) {
	schemas := testSchemas(t)
	tests := []struct {
		name string
		obj  []byte
		want []string // substrings, one per error, in order
	}{
		{"valid", satelliteConfig(t, "- name: thin\n  lvmThinPool: {}\n"), nil},
		{"no provider", satelliteConfig(t, "- name: thin\n"), []string{"spec.storagePools[0]: Invalid value: \"thin\": expected exactly one of lvmPool"}},
		{"unknown field", satelliteConfig(t, "- name: thin\n  lvmPol: {}\n  lvmPool: {}\n"), []string{`spec.storagePools[0].lvmPol: unknown field "lvmPol"`}},
		{"short name", satelliteConfig(t, "- name: x\n  lvmPool: {}\n"), []string{"spec.storagePools[0].name: Invalid value"}},
		{"duplicate", satelliteConfig(t, "- name: one\n  lvmPool: {}\n- name: one\n  filePool: {}\n"), []string{"spec.storagePools[1].name: Duplicate value"}},
		{"bad device", satelliteConfig(t, "- name: vg1\n  lvmPool: {}\n  source:\n    hostDevices: [sdb]\n"), []string{"spec.storagePools[0].source.hostDevices[0]: Invalid value: \"sdb\": expected a device path under /dev/"}},
		{"cluster", []byte(`{"apiVersion":"piraeus.io/v1","kind":"LinstorCluster","metadata":{"name":"c"},"spec":{"properties":[{"name":"a","value":"1"},{"name":"a","value":"2"}]}}`), []string{"spec.properties[1].name: Duplicate value"}},
		{"not an object", []byte("a: 1\n"), []string{"expected apiVersion and kind"}},
		{"two objects", []byte("a: 1\n---\nb: 2\n"), []string{"expected exactly one object, found 2"}},
		{"empty", []byte(""), []string{"expected exactly one object, found 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fieldsOf(plan.ValidateObject(schemas, tt.obj))
			require.Len(t, got, len(tt.want), "errors: %q", got)
			for i, w := range tt.want {
				require.Contains(t, got[i], w)
			}
		})
	}
}

// TestValidateObjectMatchesLoad proves the webhook and plan share one source
// of truth: for every malformed input holding one piraeus.io object,
// ValidateObject reports the same fields and messages as Load.
func TestValidateObjectMatchesLoad(t *testing.T) {
	schemas := testSchemas(t)
	inputs, err := filepath.Glob("../testdata/invalid/*/input.yaml")
	require.NoError(t, err)
	compared := 0
	for _, p := range inputs {
		data, err := os.ReadFile(p)
		require.NoError(t, err)
		if strings.Count(string(data), "\nkind:")+strings.Count(string(data)[:min(len(data), 5)], "kind:") != 1 ||
			!strings.Contains(string(data), "piraeus.io/") || strings.Contains(string(data), "\n---") {
			continue
		}
		_, loadErr := plan.Load(t.Context(), []plan.Source{{Name: "admission", Data: data}}, plan.LoadOptions{Schemas: schemas})
		var list plan.ErrorList
		require.ErrorAs(t, loadErr, &list, p)
		require.Equal(t, list.Error(), plan.ValidateObject(schemas, data).Error(), p)
		compared++
	}
	require.GreaterOrEqual(t, compared, 10, "too few single-object cases compared")
}

func TestValidateUpdate(t *testing.T) {
	schemas := testSchemas(t)
	base := "- name: thin\n  lvmThinPool: {volumeGroup: vg1, thinPool: tp}\n  source: {hostDevices: [/dev/sdb]}\n- name: files\n  filePool: {}\n"
	tests := []struct {
		name  string
		pools string
		want  []string
	}{
		{"unchanged", base, nil},
		{"property added", base + "- name: zfs1\n  zfsPool: {}\n", nil},
		{"provider changed", "- name: thin\n  lvmPool: {volumeGroup: vg1}\n  source: {hostDevices: [/dev/sdb]}\n- name: files\n  filePool: {}\n",
			[]string{`spec.storagePools[0]: Forbidden: storage pool "thin" cannot change its provider from LVM_THIN to LVM`}},
		{"volume group changed", strings.Replace(base, "vg1", "vg2", 1),
			[]string{`spec.storagePools[0].lvmThinPool.volumeGroup: Forbidden: storage pool "thin" cannot change its volume group from "vg1" to "vg2"`}},
		{"thin pool changed", strings.Replace(base, "thinPool: tp", "thinPool: tp2", 1),
			[]string{`spec.storagePools[0].lvmThinPool.thinPool: Forbidden: storage pool "thin" cannot change its thin pool from "tp" to "tp2"`}},
		{"default directory made explicit", base[:strings.Index(base, "- name: files")] + "- name: files\n  filePool: {directory: /var/lib/linstor-pools/files}\n", nil},
		{"directory changed", base[:strings.Index(base, "- name: files")] + "- name: files\n  filePool: {directory: /srv/files}\n",
			[]string{`spec.storagePools[1].filePool.directory: Forbidden: storage pool "files" cannot change its directory from "/var/lib/linstor-pools/files" to "/srv/files"`}},
		{"host devices changed", strings.Replace(base, "[/dev/sdb]", "[/dev/sdb, /dev/sdc]", 1),
			[]string{`spec.storagePools[0].source.hostDevices: Forbidden: the host devices of existing storage pool "thin" cannot change`}},
		{"pool removed", "- name: thin\n  lvmThinPool: {volumeGroup: vg1, thinPool: tp}\n  source: {hostDevices: [/dev/sdb]}\n",
			[]string{`spec.storagePools: Forbidden: storage pool "files" was removed, but it may still hold volumes (no StorageTopology and StorageVolumes to prove it empty); to retire it, first move its volumes away (cordon the nodes with the annotation storage.piraeus.io/cordon`}},
		{"pool renamed", strings.Replace(base, "name: files", "name: files2", 1),
			[]string{`spec.storagePools: Forbidden: storage pool "files" was removed`}},
		{"new object invalid", "- name: thin\n", []string{"expected exactly one of lvmPool"}},
	}
	old := satelliteConfig(t, base)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fieldsOf(plan.ValidateUpdate(schemas, old, satelliteConfig(t, tt.pools)))
			require.Len(t, got, len(tt.want), "errors: %q", got)
			for i, w := range tt.want {
				require.Contains(t, got[i], w)
			}
		})
	}
}

// topology builds a StorageTopology with nodes a and b, each with pool
// "files" from config "storage".
func topology(mutate func(*storagev1alpha1.StorageTopology)) *storagev1alpha1.StorageTopology {
	t := &storagev1alpha1.StorageTopology{}
	t.APIVersion, t.Kind, t.Name = "storage.piraeus.io/v1alpha1", "StorageTopology", "piraeus"
	t.Spec.Allocation = storagev1alpha1.AllocationSettings{PortMin: 7000, PortMax: 7999, MinorMin: 1000, MinorMax: 1048575}
	for _, n := range []string{"a", "b"} {
		t.Spec.Nodes = append(t.Spec.Nodes, storagev1alpha1.TopologyNode{Name: n, StoragePools: []storagev1alpha1.StoragePool{
			{Name: "files", ProviderKind: "FILE", Directory: "/var/lib/linstor-pools/files", SatelliteConfiguration: "storage"},
		}})
	}
	if mutate != nil {
		mutate(t)
	}
	return t
}

// liveVolumes is volume pvc-1: one replica in pool "files" on node a, one
// diskless on b.
func liveVolumes() []storagev1alpha1.StorageVolume {
	v := storagev1alpha1.StorageVolume{}
	v.APIVersion, v.Kind, v.Name = "storage.piraeus.io/v1alpha1", "StorageVolume", "pvc-1"
	v.Spec = storagev1alpha1.StorageVolumeSpec{
		ResourceGroup: "rg", PersistentVolume: "pvc-1",
		Volumes:  []storagev1alpha1.VolumeDefinition{{Number: 0, SizeBytes: 1 << 30}},
		Replicas: []storagev1alpha1.Replica{{Node: "a", StoragePool: "files", NodeID: 0, Port: 7000, Minors: []int32{1000}}, {Node: "b", Diskless: true, NodeID: 1, Port: 7000, Minors: []int32{1000}}},
	}
	return []storagev1alpha1.StorageVolume{v}
}

func TestValidateUpdatePoolRemovalWithTopology(t *testing.T) {
	schemas := testSchemas(t)
	old := satelliteConfig(t, "- name: files\n  filePool: {}\n- name: thin\n  lvmThinPool: {}\n")
	removeFiles := satelliteConfig(t, "- name: thin\n  lvmThinPool: {}\n")
	removeThin := satelliteConfig(t, "- name: files\n  filePool: {}\n")
	live := plan.Live{Topology: topology(nil), Volumes: liveVolumes()}

	inUse := plan.ValidateUpdateLive(schemas, old, removeFiles, live)
	require.Len(t, inUse, 1)
	require.Contains(t, inUse[0].Message, `storage pool "files" was removed, but it still holds 1 replica(s) (pvc-1 on a)`)

	require.Empty(t, plan.ValidateUpdateLive(schemas, old, removeThin, live), "an empty pool may go")

	other := topology(func(t *storagev1alpha1.StorageTopology) {
		t.Spec.Nodes[0].StoragePools[0].SatelliteConfiguration = "other"
	})
	require.Empty(t, plan.ValidateUpdateLive(schemas, old, removeFiles, plan.Live{Topology: other, Volumes: liveVolumes()}),
		"replicas in a pool another configuration provides do not block this one")
	require.Len(t, plan.ValidateUpdateLive(schemas, old, removeFiles, plan.Live{Topology: topology(nil)}), 1,
		"without the volumes nothing proves the pool empty")
}

func TestValidateUpdateTopologyNodeRemoval(t *testing.T) {
	schemas := testSchemas(t)
	encode := func(t *storagev1alpha1.StorageTopology) []byte {
		data, err := json.Marshal(t)
		if err != nil {
			panic(err)
		}
		return data
	}
	old := encode(topology(nil))
	dropB := func(t *storagev1alpha1.StorageTopology) { t.Spec.Nodes = t.Spec.Nodes[:1] }
	deployedOnB := liveVolumes()
	deployedOnB[0].Spec.Replicas = deployedOnB[0].Spec.Replicas[:1]
	deployedOnB[0].Status.Replicas = []storagev1alpha1.ReplicaStatus{{Node: "b", Deployed: true}}
	onlyOnB := liveVolumes()
	onlyOnB[0].Spec.Replicas = []storagev1alpha1.Replica{{Node: "b", StoragePool: "files", NodeID: 1, Port: 7000, Minors: []int32{1000}}}
	policy := func(p piraeusv1.DeletionPolicy, leaving *storagev1alpha1.NodeLeaving) []byte {
		return encode(topology(func(t *storagev1alpha1.StorageTopology) {
			t.Spec.Nodes[1].DeletionPolicy, t.Spec.Nodes[1].Leaving = p, leaving
		}))
	}
	evacuatedGone := policy(piraeusv1.DeletionPolicyEvacuate, &storagev1alpha1.NodeLeaving{Policy: piraeusv1.DeletionPolicyEvacuate, Reason: storagev1alpha1.LeavingNodeDeleted, Evacuated: true})
	evacuatedHere := policy(piraeusv1.DeletionPolicyEvacuate, &storagev1alpha1.NodeLeaving{Policy: piraeusv1.DeletionPolicyEvacuate, Reason: storagev1alpha1.LeavingNotSelected, Evacuated: true})
	deletePolicy := policy(piraeusv1.DeletionPolicyDelete, nil)
	tests := []struct {
		name   string
		old    []byte
		mutate func(*storagev1alpha1.StorageTopology)
		vols   []storagev1alpha1.StorageVolume
		want   []string
	}{
		{"unchanged", nil, nil, liveVolumes(), nil},
		{"evacuated node whose Node is gone: a stale deployed status does not hold it", evacuatedGone, dropB, deployedOnB, nil},
		{"evacuated node whose Node is gone: a spec replica holds it", evacuatedGone, dropB, liveVolumes(), []string{`node "b" was removed, but it still holds 1 replica(s) (pvc-1)`}},
		{"evacuated node whose agent runs: its deployed replica holds it", evacuatedHere, dropB, deployedOnB, []string{`node "b" was removed, but it still holds 1 replica(s)`}},
		{"policy Delete: the volume keeps a diskful replica elsewhere", deletePolicy, dropB, liveVolumes(), nil},
		{"policy Delete: the node holds the last replica", deletePolicy, dropB, onlyOnB, []string{`node "b" leaves with deletion policy Delete, but it holds the last replica of 1 volume(s) (pvc-1)`}},
		{"node with a replica removed", nil, dropB, liveVolumes(), []string{`spec.nodes: Forbidden: node "b" was removed, but it still holds 1 replica(s) (pvc-1)`}},
		{"node whose replica is still deployed removed", nil, dropB, deployedOnB, []string{`node "b" was removed, but it still holds 1 replica(s)`}},
		{"empty node removed", nil, dropB, nil, []string{`node "b" was removed, but it may still hold replicas (no StorageVolumes to prove it empty)`}},
		{"node removed by force", nil, func(t *storagev1alpha1.StorageTopology) {
			dropB(t)
			t.Annotations = map[string]string{plan.ForceRemoveNodesAnnotation: "x, b"}
		}, liveVolumes(), nil},
		{"node left by its volumes removed", nil, dropB, []storagev1alpha1.StorageVolume{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := old
			if tt.old != nil {
				before = tt.old
			}
			got := fieldsOf(plan.ValidateUpdateLive(schemas, before, encode(topology(tt.mutate)), plan.Live{Volumes: tt.vols}))
			require.Len(t, got, len(tt.want), "errors: %q", got)
			for i, w := range tt.want {
				require.Contains(t, got[i], w)
			}
		})
	}
}

func TestValidateDeleteVolume(t *testing.T) {
	schemas := testSchemas(t)
	data, err := json.Marshal(liveVolumes()[0])
	require.NoError(t, err)
	inUse := plan.ValidateDeleteLive(schemas, data, plan.Live{VolumeInUse: func(*storagev1alpha1.StorageVolume) bool { return true }})
	require.Len(t, inUse, 1)
	require.Contains(t, inUse[0].Error(), `volume "pvc-1" still belongs to PersistentVolume pvc-1`)
	require.Empty(t, plan.ValidateDeleteLive(schemas, data, plan.Live{VolumeInUse: func(*storagev1alpha1.StorageVolume) bool { return false }}))
	require.Len(t, plan.ValidateDeleteLive(schemas, data, plan.Live{}), 1, "without live knowledge the volume counts as in use")
	snapped := plan.ValidateDeleteLive(schemas, data, plan.Live{VolumeInUse: func(*storagev1alpha1.StorageVolume) bool { return false },
		VolumeSnapshots: func(*storagev1alpha1.StorageVolume) []string { return []string{"pvc-a.snap1"} }})
	require.Len(t, snapped, 1, "a volume with snapshots may not go")
	require.Contains(t, snapped[0].Error(), "pvc-a.snap1")
}

// FuzzValidateUpdate: arbitrary old and new objects never panic the webhook.
func FuzzValidateUpdate(f *testing.F) {
	f.Add([]byte(`{"apiVersion":"piraeus.io/v1","kind":"LinstorSatelliteConfiguration","metadata":{"name":"s"},"spec":{"storagePools":[{"name":"abc","lvmPool":{}}]}}`),
		[]byte(`{"apiVersion":"piraeus.io/v1","kind":"LinstorSatelliteConfiguration","metadata":{"name":"s"},"spec":{"storagePools":[{"name":"abc","filePool":{}}]}}`))
	f.Add([]byte(`{"apiVersion":"storage.piraeus.io/v1alpha1","kind":"StorageTopology","metadata":{"name":"t"},"spec":{"allocation":{"portMin":1,"portMax":2,"minorMin":1,"minorMax":2},"nodes":[{"name":"a"},{"name":"b"}]}}`),
		[]byte(`{"apiVersion":"storage.piraeus.io/v1alpha1","kind":"StorageTopology","metadata":{"name":"t"},"spec":{"allocation":{"portMin":1,"portMax":2,"minorMin":1,"minorMax":2},"nodes":[{"name":"a"}]}}`))
	f.Add([]byte(`{"apiVersion":"storage.piraeus.io/v1alpha1","kind":"StorageVolume","metadata":{"name":"v"},"spec":{"resourceGroup":"r","replicas":[{"node":"a","nodeId":0,"port":7000}]}}`),
		[]byte(`{"apiVersion":"storage.piraeus.io/v1alpha1","kind":"StorageVolume","metadata":{"name":"v"},"spec":{"resourceGroup":"r","replicas":[{"node":"a","nodeId":1,"port":7001}]}}`))
	f.Add([]byte("{}"), []byte("[1"))
	schemas := testSchemas(f)
	f.Fuzz(func(t *testing.T, oldObj, newObj []byte) {
		for _, e := range plan.ValidateUpdate(schemas, oldObj, newObj) {
			require.NotEqual(t, "", e.Message, "error without message: %#v", e)
		}
	})
}
