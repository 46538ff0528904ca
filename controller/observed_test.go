package controller

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
)

var placedTrue = metav1.Condition{Type: storagev1alpha1.ConditionPlaced, Status: metav1.ConditionTrue, Reason: "Placed", Message: "ok"}

// resourceStatus is an agent report of pvc-two on node with the given disk
// state and connections to peers.
func resourceStatus(v *storagev1alpha1.StorageVolume, disk string, peers map[string]string) *agentv1.ResourceStatus {
	rs := &agentv1.ResourceStatus{Name: v.Name, Uid: string(v.UID), Role: "Secondary", Quorum: true, DrbdUp: true,
		Volumes: []*agentv1.VolumeStatus{{Number: 0, DevicePath: "/dev/drbd1001", DiskState: disk, BackingSizeKib: 1048580}}}
	for p, state := range peers {
		rs.Peers = append(rs.Peers, &agentv1.PeerStatus{NodeName: p, ConnectionState: state,
			Volumes: []*agentv1.PeerVolumeStatus{{Number: 0, ReplicationState: "Established", PeerDiskState: "UpToDate"}}})
	}
	return rs
}

func reportWith(rs ...*agentv1.ResourceStatus) *NodeReport {
	return &NodeReport{Connected: true, Status: &agentv1.NodeStatus{Resources: rs}, Problems: map[string]string{}}
}

func TestVolumeStatus(t *testing.T) {
	v := vol("pvc-two", "two", diskful("n1", 0, 7000, 1001), diskful("n2", 1, 7000, 1001), tieBreaker("n3", 2, 7000, 1001))
	all := map[string]string{"n1": "Connected", "n2": "Connected", "n3": "Connected"}
	healthy := func(node, disk string) *NodeReport {
		peers := map[string]string{}
		for p, s := range all {
			if p != node {
				peers[p] = s
			}
		}
		return reportWith(resourceStatus(v, disk, peers))
	}
	cases := []struct {
		name              string
		reports           map[string]*NodeReport
		ready, degraded   metav1.ConditionStatus
		readyReason       string
		hasDegraded       bool
		prevEverReady     bool
		wantLastErrorNode string
	}{
		{
			name:    "all up to date and connected",
			reports: map[string]*NodeReport{"n1": healthy("n1", "UpToDate"), "n2": healthy("n2", "UpToDate"), "n3": healthy("n3", "Diskless")},
			ready:   metav1.ConditionTrue, readyReason: "Deployed", hasDegraded: true, degraded: metav1.ConditionFalse,
		},
		{
			name:    "syncing replica: deployed, not ready, no Degraded before first Ready",
			reports: map[string]*NodeReport{"n1": healthy("n1", "UpToDate"), "n2": healthy("n2", "Inconsistent"), "n3": healthy("n3", "Diskless")},
			ready:   metav1.ConditionFalse, readyReason: "Syncing",
		},
		{
			name:    "one node not deployed yet",
			reports: map[string]*NodeReport{"n1": healthy("n1", "UpToDate"), "n2": reportWith(), "n3": healthy("n3", "Diskless")},
			ready:   metav1.ConditionFalse, readyReason: "Deploying",
		},
		{
			name:          "agent lost after being ready: degraded, last observation kept",
			reports:       map[string]*NodeReport{"n1": healthy("n1", "UpToDate"), "n2": {Connected: false, Error: "connection refused"}, "n3": healthy("n3", "Diskless")},
			prevEverReady: true,
			ready:         metav1.ConditionFalse, readyReason: "Syncing", hasDegraded: true, degraded: metav1.ConditionTrue, wantLastErrorNode: "n2",
		},
		{
			name: "disconnected peer degrades",
			reports: map[string]*NodeReport{"n1": reportWith(resourceStatus(v, "UpToDate", map[string]string{"n2": "Connecting", "n3": "Connected"})),
				"n2": healthy("n2", "UpToDate"), "n3": healthy("n3", "Diskless")},
			prevEverReady: true,
			ready:         metav1.ConditionFalse, readyReason: "Syncing", hasDegraded: true, degraded: metav1.ConditionTrue,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := v.DeepCopy()
			if tc.prevEverReady {
				prev := VolumeStatus(v, StatusInput{Placed: placedTrue, DrbdLayer: true, Reports: map[string]*NodeReport{
					"n1": healthy("n1", "UpToDate"), "n2": healthy("n2", "UpToDate"), "n3": healthy("n3", "Diskless")}})
				v.Status = prev
			}
			st := VolumeStatus(v, StatusInput{Placed: placedTrue, DrbdLayer: true, Reports: tc.reports})
			r := meta.FindStatusCondition(st.Conditions, storagev1alpha1.ConditionReady)
			assert.Equal(t, tc.ready, r.Status, r.Message)
			assert.Equal(t, tc.readyReason, r.Reason, r.Message)
			d := meta.FindStatusCondition(st.Conditions, storagev1alpha1.ConditionDegraded)
			assert.Equal(t, tc.hasDegraded, d != nil)
			if d != nil {
				assert.Equal(t, tc.degraded, d.Status, d.Message)
			}
			assert.Len(t, st.Replicas, 3)
			if tc.wantLastErrorNode != "" {
				for _, rep := range st.Replicas {
					if rep.Node == tc.wantLastErrorNode {
						assert.Contains(t, rep.LastError, "not connected")
						assert.True(t, rep.Deployed, "the last observation is kept")
					}
				}
			}
			again := VolumeStatus(&storagev1alpha1.StorageVolume{ObjectMeta: v.ObjectMeta, Spec: v.Spec, Status: st}, StatusInput{Placed: placedTrue, DrbdLayer: true, Reports: tc.reports})
			assert.Equal(t, st, again, "an unchanged cluster gives an equal status (no write)")
		})
	}
}

func TestVolumeStatusStorageOnly(t *testing.T) {
	v := vol("pvc-local", "local", storagev1alpha1.Replica{Node: "n1", StoragePool: "thin"})
	rs := &agentv1.ResourceStatus{Name: v.Name, Uid: string(v.UID), Volumes: []*agentv1.VolumeStatus{{Number: 0, DevicePath: "/dev/loop3", BackingDevice: "/dev/loop3"}}}
	st := VolumeStatus(v, StatusInput{Placed: placedTrue, Reports: map[string]*NodeReport{"n1": reportWith(rs)}})
	assert.True(t, meta.IsStatusConditionTrue(st.Conditions, storagev1alpha1.ConditionReady))
	assert.Equal(t, "/dev/loop3", st.Replicas[0].Volumes[0].DevicePath)
}

func TestVolumeStatusWrongUIDIsNotDeployed(t *testing.T) {
	v := vol("pvc-local", "local", storagev1alpha1.Replica{Node: "n1", StoragePool: "thin"})
	rs := &agentv1.ResourceStatus{Name: v.Name, Uid: "someone-else", Volumes: []*agentv1.VolumeStatus{{Number: 0, DevicePath: "/dev/loop3"}}}
	st := VolumeStatus(v, StatusInput{Placed: placedTrue, Reports: map[string]*NodeReport{"n1": reportWith(rs)}})
	assert.False(t, st.Replicas[0].Deployed, "a same-named resource of another volume is not this one")
	assert.False(t, meta.IsStatusConditionTrue(st.Conditions, storagev1alpha1.ConditionReady))
}
