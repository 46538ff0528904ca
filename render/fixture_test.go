package render

import (
	"encoding/json"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/stretchr/testify/require"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	piraeusv1 "github.com/piraeusctl/piraeusctl/api/v1"
	"github.com/piraeusctl/piraeusctl/plan"
)

// testVersion pins the piraeusctl version so golden files do not follow git.
const testVersion = "v0.1.0-test"

func testOptions() Options { return Options{Version: testVersion} }

// modelOpts shape a hand-built model.
type modelOpts struct {
	nodes       int
	nodeNames   []string // overrides nodes
	fileDir     string   // directory of the file-thin pool (default under poolRoot)
	configs     []piraeusv1.LinstorSatelliteConfiguration
	satPatches  []piraeusv1.Patch
	satTemplate string
}

// newModel builds a plan.Model like the loader would: nodes with one
// LVM-thin and one file-thin pool each, one StorageClass.
func newModel(o modelOpts) *plan.Model {
	names := o.nodeNames
	if names == nil {
		for i := 0; i < o.nodes; i++ {
			names = append(names, fmt.Sprintf("node-%04d", i))
		}
	}
	fileDir := o.fileDir
	if fileDir == "" {
		fileDir = "/var/lib/linstor-pools/files"
	}
	m := &plan.Model{
		Namespace: plan.DefaultNamespace,
		Cluster: piraeusv1.LinstorCluster{
			TypeMeta:   metav1.TypeMeta{APIVersion: "piraeus.io/v1", Kind: "LinstorCluster"},
			ObjectMeta: metav1.ObjectMeta{Name: "linstorcluster"},
		},
		SatelliteConfigurations: o.configs,
		StorageClasses: []storagev1.StorageClass{{
			TypeMeta:    metav1.TypeMeta{APIVersion: "storage.k8s.io/v1", Kind: "StorageClass"},
			ObjectMeta:  metav1.ObjectMeta{Name: "replicated"},
			Provisioner: plan.CSIProvisioner,
			Parameters: map[string]string{
				"linstor.csi.linbit.com/storagePool":    "thin",
				"linstor.csi.linbit.com/placementCount": "2",
			},
		}},
		Topology: storagev1alpha1.StorageTopology{
			Spec: storagev1alpha1.StorageTopologySpec{
				Allocation: storagev1alpha1.AllocationSettings{PortMin: 7000, PortMax: 7999, MinorMin: 1000, MinorMax: 1048575},
			},
		},
	}
	var cfgNames []string
	for _, c := range o.configs {
		cfgNames = append(cfgNames, c.Name)
	}
	for i, n := range names {
		m.Nodes = append(m.Nodes, corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: n, Labels: map[string]string{
				"kubernetes.io/hostname":      n,
				"topology.kubernetes.io/zone": fmt.Sprintf("zone-%d", i%3),
			}},
			Status: corev1.NodeStatus{NodeInfo: corev1.NodeSystemInfo{OSImage: "Debian GNU/Linux 12 (bookworm)"}},
		})
		sat := plan.Satellite{Node: n, Configurations: cfgNames, Patches: o.satPatches}
		if o.satTemplate != "" {
			sat.PodTemplates = []json.RawMessage{json.RawMessage(o.satTemplate)}
		}
		m.Satellites = append(m.Satellites, sat)
		m.Topology.Spec.Nodes = append(m.Topology.Spec.Nodes, storagev1alpha1.TopologyNode{
			Name:       n,
			Labels:     map[string]string{"topology.kubernetes.io/zone": fmt.Sprintf("zone-%d", i%3)},
			Properties: map[string]string{"Aux/topology/topology.kubernetes.io/zone": fmt.Sprintf("zone-%d", i%3)},
			Addresses:  []storagev1alpha1.NodeAddress{{Type: "InternalIP", Address: fmt.Sprintf("10.0.%d.%d", i/256, i%256)}},
			StoragePools: []storagev1alpha1.StoragePool{
				{Name: "files", ProviderKind: piraeusv1.ProviderFileThin, Directory: fileDir},
				{Name: "thin", ProviderKind: piraeusv1.ProviderLVMThin, VolumeGroup: "vg1", ThinPool: "thin", HostDevices: []string{"/dev/vdb"}},
			},
			SatelliteConfigurations: cfgNames,
		})
	}
	m.Topology.Spec.ResourceGroups = []storagev1alpha1.ResourceGroup{{
		Name: "replicated", StorageClasses: []string{"replicated"}, PlaceCount: 2,
		StoragePools: []string{"thin"}, LayerList: []string{"drbd", "storage"},
	}}
	return m
}

func mustRender(t testing.TB, m *plan.Model, opts Options) *Plan {
	t.Helper()
	p, err := Render(t.Context(), m, opts)
	require.NoError(t, err, "Render")
	return p
}
