// Package plantest generates realistic spec inputs of any size for tests and
// benchmarks of plan, render and the end-to-end pipeline.
package plantest

import (
	"fmt"
	"strings"

	"github.com/piraeusctl/piraeusctl/plan"
)

// ClusterOptions shape a generated cluster.
type ClusterOptions struct {
	// Nodes is the number of worker nodes (all run a satellite).
	Nodes int
	// Zones spreads the nodes over this many zones (default 3).
	Zones int
	// Claims is the number of PersistentVolumeClaims (default 0).
	Claims int
}

// Cluster returns the sources of a cluster: nodes as one kubectl List, a
// LinstorCluster, a LinstorSatelliteConfiguration with an LVM-thin and a
// file-thin pool, two StorageClasses and the requested claims.
func Cluster(o ClusterOptions) []plan.Source {
	if o.Zones == 0 {
		o.Zones = 3
	}
	return []plan.Source{
		{Name: "generated/nodes.yaml", Data: []byte(nodeList(o))},
		{Name: "generated/cluster.yaml", Data: []byte(clusterSpec +
			storageClass("replicated", "thin", 3, "topology.kubernetes.io/zone") + storageClass("files", "files", 2, ""))},
		{Name: "generated/claims.yaml", Data: []byte(claims(o.Claims))},
	}
}

func nodeList(o ClusterOptions) string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: List\nitems:\n")
	for i := 0; i < o.Nodes; i++ {
		fmt.Fprintf(&b, `- apiVersion: v1
  kind: Node
  metadata:
    name: node-%04d
    uid: 00000000-0000-4000-8000-%012d
    labels:
      kubernetes.io/hostname: node-%04d
      kubernetes.io/os: linux
      topology.kubernetes.io/region: region-1
      topology.kubernetes.io/zone: zone-%d
    annotations:
      storage.piraeus.io/capacity.thin: 1Ti
  status:
    addresses:
    - type: InternalIP
      address: 10.%d.%d.%d
`, i, i, i, i%o.Zones, 10+i/65536, (i/256)%256, i%256)
	}
	return b.String()
}

const clusterSpec = `apiVersion: piraeus.io/v1
kind: LinstorCluster
metadata:
  name: linstorcluster
spec:
  nodeSelector:
    kubernetes.io/os: linux
---
apiVersion: piraeus.io/v1
kind: LinstorSatelliteConfiguration
metadata:
  name: pools
spec:
  storagePools:
  - name: thin
    lvmThinPool:
      volumeGroup: vg1
      thinPool: thin
    source:
      hostDevices: [/dev/vdb]
  - name: files
    fileThinPool:
      directory: /var/lib/linstor-pools/files
  properties:
  - name: Aux/zone
    valueFrom:
      nodeFieldRef: metadata.labels['topology.kubernetes.io/zone']
`

// storageClass is a linstor-csi StorageClass document.
func storageClass(name, pool string, replicas int, different string) string {
	doc := fmt.Sprintf(`---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: %s
provisioner: linstor.csi.linbit.com
parameters:
  linstor.csi.linbit.com/storagePool: %s
  linstor.csi.linbit.com/placementCount: "%d"
`, name, pool, replicas)
	if different != "" {
		doc += "  linstor.csi.linbit.com/replicasOnDifferent: " + different + "\n"
	}
	return doc
}

func claims(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data-%05d
  namespace: apps
  uid: 11111111-0000-4000-8000-%012d
spec:
  storageClassName: replicated
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: %dGi
`, i, i, 1+i%50)
	}
	return b.String()
}
