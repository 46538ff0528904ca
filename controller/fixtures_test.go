package controller

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	piraeusv1 "github.com/piraeusctl/piraeusctl/api/v1"
)

// testTopology is three nodes with a thin file pool each (zones a, b, c),
// a node connection with an explicit path between n1 and n2, and groups.
func testTopology() *storagev1alpha1.StorageTopologySpec {
	node := func(name, ip, zone string) storagev1alpha1.TopologyNode {
		return storagev1alpha1.TopologyNode{
			Name:      name,
			Labels:    map[string]string{"topology.kubernetes.io/zone": zone},
			Addresses: []storagev1alpha1.NodeAddress{{Type: "Hostname", Address: name}, {Type: "InternalIP", Address: ip}},
			StoragePools: []storagev1alpha1.StoragePool{
				{Name: "thin", ProviderKind: piraeusv1.ProviderFileThin, Directory: "/var/lib/piraeus/thin"},
				{Name: "thick", ProviderKind: piraeusv1.ProviderLVM, VolumeGroup: "vg0"},
			},
		}
	}
	return &storagev1alpha1.StorageTopologySpec{
		Nodes: []storagev1alpha1.TopologyNode{node("n1", "192.0.2.1", "a"), node("n2", "192.0.2.2", "b"), node("n3", "192.0.2.3", "c")},
		NodeConnections: []storagev1alpha1.NodeConnection{{
			NodeA: "n1", NodeB: "n2", Sources: []string{"direct"},
			Paths: []piraeusv1.LinstorNodeConnectionPath{{Name: "p0", Interface: "default-ipv4"}},
		}},
		ResourceGroups: []storagev1alpha1.ResourceGroup{
			{Name: "replicated", PlaceCount: 3, StoragePools: []string{"thin"}, LayerList: []string{"drbd", "storage"},
				DrbdOptions: map[string]string{"Net/verify-alg": "crc32c", "auto-quorum": "suspend-io", "Disk/c-max-rate": "100M"}},
			{Name: "two", PlaceCount: 2, StoragePools: []string{"thin"}, LayerList: []string{"drbd", "storage"}},
			{Name: "local", PlaceCount: 1, StoragePools: []string{"thin"}, LayerList: []string{"storage"}},
		},
	}
}

// vol builds a placed volume of one 1 GiB volume definition.
func vol(name, group string, replicas ...storagev1alpha1.Replica) *storagev1alpha1.StorageVolume {
	return &storagev1alpha1.StorageVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), Generation: 1},
		Spec: storagev1alpha1.StorageVolumeSpec{
			ResourceGroup: group,
			Volumes:       []storagev1alpha1.VolumeDefinition{{Number: 0, SizeBytes: 1 << 30}},
			Replicas:      replicas,
		},
	}
}

func diskful(node string, id, port int32, minor int32) storagev1alpha1.Replica {
	return storagev1alpha1.Replica{Node: node, StoragePool: "thin", NodeID: id, Port: port, Minors: []int32{minor}}
}

func tieBreaker(node string, id, port int32, minor int32) storagev1alpha1.Replica {
	return storagev1alpha1.Replica{Node: node, Diskless: true, TieBreaker: true, NodeID: id, Port: port, Minors: []int32{minor}}
}
