package csi

import (
	"testing"

	lapi "github.com/LINBIT/golinstor/client"
	"github.com/LINBIT/golinstor/devicelayerkind"
	csipb "github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/stretchr/testify/assert"
)

func testTopology() map[string]*nodeTopology {
	node := func(name, zone string, pools ...string) *nodeTopology {
		var sps []lapi.StoragePool
		for _, p := range pools {
			sps = append(sps, lapi.StoragePool{StoragePoolName: p, NodeName: name, ProviderKind: lapi.FILE_THIN})
		}
		sps = append(sps, lapi.StoragePool{StoragePoolName: DefaultDisklessStoragePool, NodeName: name, ProviderKind: lapi.DISKLESS})
		return newNodeTopology(lapi.Node{Name: name, Props: map[string]string{
			"Aux/topology/topology.kubernetes.io/zone": zone, "CurStltConnName": "default", "Aux/other": "x"}}, sps)
	}
	return map[string]*nodeTopology{
		"a": node("a", "z1", "thin"), "b": node("b", "z1", "thin"), "c": node("c", "z2", "thin"), "d": node("d", "z2"),
	}
}

func TestNodeTopologySegments(t *testing.T) {
	assert.Equal(t, map[string]string{
		TopologyKeyHostname: "a", "linbit.com/sp-thin": "true", "linbit.com/sp-" + DefaultDisklessStoragePool: "true",
		"topology.kubernetes.io/zone": "z1", "other": "x",
	}, testTopology()["a"].segments, "hostname, a key per pool, Aux/topology/ and other Aux/ props without the prefix (as linstor-csi); other props stay out")
	bad := newNodeTopology(lapi.Node{Name: "a", Props: map[string]string{"Aux/not a label": "x", "Aux/a/b/c": "y"}}, nil)
	assert.Equal(t, map[string]string{TopologyKeyHostname: "a"}, bad.segments, "Aux/ keys that are no valid label key stay out: kubelet could not register them")
}

func TestTopologyCandidates(t *testing.T) {
	topo := testTopology()
	seg := func(kv ...string) *csipb.Topology {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return &csipb.Topology{Segments: m}
	}
	p := &Parameters{StoragePools: []string{"thin"}, LayerList: []devicelayerkind.DeviceLayerKind{devicelayerkind.Storage},
		AllowRemoteVolumeAccess: RemoteAccessLocalOnly}
	drbdZone := &Parameters{StoragePools: []string{"thin"}, LayerList: []devicelayerkind.DeviceLayerKind{devicelayerkind.Drbd, devicelayerkind.Storage},
		AllowRemoteVolumeAccess: RemoteAccessPolicy{{FromSame: []string{"topology.kubernetes.io/zone"}}}}
	drbdAnywhere := &Parameters{StoragePools: []string{"thin"}, LayerList: drbdZone.LayerList, AllowRemoteVolumeAccess: RemoteAccessAnywhere}
	tests := []struct {
		name string
		p    *Parameters
		req  *csipb.TopologyRequirement
		want []string
	}{
		{"no requirement: every node with the pool", p, &csipb.TopologyRequirement{}, []string{"a", "b", "c"}},
		{"requisite zone", p, &csipb.TopologyRequirement{Requisite: []*csipb.Topology{seg("topology.kubernetes.io/zone", "z2")}}, []string{"c"}},
		{"preferred first", p, &csipb.TopologyRequirement{
			Requisite: []*csipb.Topology{seg(TopologyKeyHostname, "a"), seg(TopologyKeyHostname, "c"), seg(TopologyKeyHostname, "b")},
			Preferred: []*csipb.Topology{seg(TopologyKeyHostname, "c")},
		}, []string{"c", "a", "b"}},
		{"preferred outside requisite is not taken", p, &csipb.TopologyRequirement{
			Requisite: []*csipb.Topology{seg("topology.kubernetes.io/zone", "z1")},
			Preferred: []*csipb.Topology{seg(TopologyKeyHostname, "c")},
		}, []string{"a", "b"}},
		{"node without the pool is not a candidate", p, &csipb.TopologyRequirement{Requisite: []*csipb.Topology{seg(TopologyKeyHostname, "d")}}, nil},
		{"DRBD: nodes of the requisite node's zone can serve it", drbdZone, &csipb.TopologyRequirement{
			Requisite: []*csipb.Topology{seg(TopologyKeyHostname, "a", "topology.kubernetes.io/zone", "z1")}}, []string{"a", "b"}},
		{"DRBD reachable from anywhere: every node", drbdAnywhere, &csipb.TopologyRequirement{
			Requisite: []*csipb.Topology{seg(TopologyKeyHostname, "d", "topology.kubernetes.io/zone", "z2")}}, []string{"a", "b", "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, topologyCandidates(topo, tt.p, tt.req))
		})
	}
}
