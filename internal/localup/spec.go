package localup

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Resource groups (StorageClasses) the local datastore offers.
const (
	// ClassReplicated: three DRBD replicas (thin files), quorum majority.
	ClassReplicated = "piraeus-replicated"
	// ClassTwo: two DRBD replicas and a diskless tie-breaker.
	ClassTwo = "piraeus-two-replicas"
	// ClassLocal: one replica, storage layer only (no DRBD).
	ClassLocal = "piraeus-local"
	// PoolName is every node's FILE_THIN pool.
	PoolName = "thin"
)

// nodeAddress is a node's replication address: each node has its own
// loopback address, so DRBD address:port pairs never clash between nodes.
func nodeAddress(i int) string { return fmt.Sprintf("127.0.0.%d", 11+i) }

// writeSpec writes the local cluster's inputs, as a Piraeus user writes
// them: a LinstorCluster, one LinstorSatelliteConfiguration per node with
// its FILE_THIN pool on that node's loop-backed folder, StorageClasses.
// The Nodes are created in the API server (see createNodes).
func (e *Env) writeSpec() error {
	var b strings.Builder
	b.WriteString(`apiVersion: piraeus.io/v1
kind: LinstorCluster
metadata:
  name: linstorcluster
spec: {}
`)
	for _, n := range e.Nodes {
		fmt.Fprintf(&b, `---
apiVersion: piraeus.io/v1
kind: LinstorSatelliteConfiguration
metadata:
  name: pool-%[1]s
spec:
  nodeSelector:
    kubernetes.io/hostname: %[1]s
  storagePools:
    - name: %[2]s
      fileThinPool:
        directory: %[3]s
`, n.Name, PoolName, n.PoolDir)
	}
	fmt.Fprintf(&b, `---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: %s
provisioner: linstor.csi.linbit.com
allowVolumeExpansion: true
volumeBindingMode: Immediate
parameters:
  linstor.csi.linbit.com/storagePool: %s
  linstor.csi.linbit.com/placementCount: "3"
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: %s
provisioner: linstor.csi.linbit.com
allowVolumeExpansion: true
volumeBindingMode: Immediate
parameters:
  linstor.csi.linbit.com/storagePool: %s
  linstor.csi.linbit.com/placementCount: "2"
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: %s
provisioner: linstor.csi.linbit.com
allowVolumeExpansion: true
volumeBindingMode: Immediate
parameters:
  linstor.csi.linbit.com/storagePool: %s
  linstor.csi.linbit.com/placementCount: "1"
  linstor.csi.linbit.com/layerList: storage
`, ClassReplicated, PoolName, ClassTwo, PoolName, ClassLocal, PoolName)
	if err := os.MkdirAll(e.SpecDir(), 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(e.SpecDir(), "cluster.yaml"), []byte(b.String()), 0o644)
}

// nodesYAML is the Nodes as `kubectl get nodes -o yaml` prints them, for plan inputs.
func (e *Env) nodesYAML() string {
	var b strings.Builder
	for i, n := range e.Nodes {
		fmt.Fprintf(&b, `---
apiVersion: v1
kind: Node
metadata:
  name: %[1]s
  labels:
    kubernetes.io/hostname: %[1]s
    topology.kubernetes.io/zone: zone-%[2]d
  annotations:
    storage.piraeus.io/agent-address: %[3]s
status:
  addresses:
    - type: InternalIP
      address: %[4]s
    - type: Hostname
      address: %[1]s
`, n.Name, i+1, n.AgentAddress, n.Address)
	}
	return b.String()
}
