package controller

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
)

// NodeReport is what the controller knows of one node's agent: whether its
// status stream is up, the last status it sent, and what the last Apply said
// per resource.
type NodeReport struct {
	// Connected: a WatchStatus stream from the agent is open.
	Connected bool
	// Status is the agent's last NodeStatus; nil before the first.
	Status *agentv1.NodeStatus
	// Problems: resource name → why it did not converge (failed or pending),
	// from the last Apply or from the desired-state computation.
	Problems map[string]string
	// Error is why the node cannot be driven at all (no address, dial failed).
	Error string

	byName map[string]*agentv1.ResourceStatus // Status's resources; set with setStatus
}

// resource returns the agent's status of the named resource, nil when absent.
func (r *NodeReport) resource(name string) *agentv1.ResourceStatus {
	if r == nil || r.Status == nil {
		return nil
	}
	if r.byName != nil {
		return r.byName[name]
	}
	for _, rs := range r.Status.GetResources() {
		if rs.GetName() == name {
			return rs
		}
	}
	return nil
}

// setStatus takes the agent's latest status and indexes its resources by
// name: every volume's status reads its replicas here, and a node holds
// hundreds of resources.
func (r *NodeReport) setStatus(st *agentv1.NodeStatus) {
	r.Status = st
	r.byName = make(map[string]*agentv1.ResourceStatus, len(st.GetResources()))
	for _, rs := range st.GetResources() {
		r.byName[rs.GetName()] = rs
	}
}

// ObserveReplica is one replica's status on node from its agent's report,
// keeping the previous observation when the agent cannot be heard.
func ObserveReplica(v *storagev1alpha1.StorageVolume, node string, rep *NodeReport, prev *storagev1alpha1.ReplicaStatus) storagev1alpha1.ReplicaStatus {
	out := storagev1alpha1.ReplicaStatus{Node: node}
	if rep == nil || !rep.Connected || rep.Status == nil {
		if prev != nil {
			out = *prev.DeepCopy()
		}
		out.LastError = "agent of node " + node + " is not connected"
		if rep != nil && rep.Error != "" {
			out.LastError += ": " + rep.Error
		}
		return out
	}
	if rs := rep.resource(v.Name); rs != nil && rs.GetUid() == string(v.UID) {
		fillReplica(&out, rs)
	}
	out.LastError = rep.Problems[v.Name]
	return out
}

func fillReplica(out *storagev1alpha1.ReplicaStatus, rs *agentv1.ResourceStatus) {
	out.Deployed = len(rs.GetVolumes()) > 0
	out.Role = rs.GetRole()
	out.InUse = rs.GetRole() == "Primary"
	out.Quorum = rs.GetQuorum()
	for _, vs := range rs.GetVolumes() {
		out.Volumes = append(out.Volumes, storagev1alpha1.ReplicaVolumeStatus{
			Number:         int32(vs.GetNumber()),
			DevicePath:     vs.GetDevicePath(),
			DiskState:      vs.GetDiskState(),
			AllocatedBytes: int64(vs.GetBackingSizeKib()) * 1024,
		})
	}
	slices.SortFunc(out.Volumes, func(a, b storagev1alpha1.ReplicaVolumeStatus) int { return cmp.Compare(a.Number, b.Number) })
	for _, p := range rs.GetPeers() {
		c := storagev1alpha1.ConnectionStatus{Peer: p.GetNodeName(), State: p.GetConnectionState()}
		pvs := slices.Clone(p.GetVolumes())
		slices.SortFunc(pvs, func(a, b *agentv1.PeerVolumeStatus) int { return cmp.Compare(a.GetNumber(), b.GetNumber()) })
		for _, pv := range pvs {
			c.ReplicationStates = append(c.ReplicationStates, pv.GetReplicationState())
			c.PeerDiskStates = append(c.PeerDiskStates, pv.GetPeerDiskState())
		}
		out.Connections = append(out.Connections, c)
	}
	slices.SortFunc(out.Connections, func(a, b storagev1alpha1.ConnectionStatus) int { return cmp.Compare(a.Peer, b.Peer) })
}

// StatusInput is what a volume's status is computed from.
type StatusInput struct {
	// Reports of the nodes, by node name.
	Reports map[string]*NodeReport
	// Placed is the Placed condition the reconciler decided (status True
	// when replicas and allocations are complete and registered).
	Placed metav1.Condition
	// DrbdLayer: the volume has the DRBD layer (disk states matter).
	DrbdLayer bool
	// Leaving are nodes that still hold a replica the spec no longer has
	// (a move in progress, or a deletion): they stay in the status until
	// their replica is deleted.
	Leaving []string
}

// VolumeStatus computes a volume's status: one entry per replica of the
// spec (and per node still leaving), the Placed condition as given, Ready
// and Degraded from the replicas. Condition transition times are kept from
// the previous status when a condition does not change, so an unchanged
// cluster gives an equal status (and costs no write).
func VolumeStatus(v *storagev1alpha1.StorageVolume, in StatusInput) storagev1alpha1.StorageVolumeStatus {
	prev := v.Status
	out := storagev1alpha1.StorageVolumeStatus{
		ObservedGeneration: v.Generation,
		Conditions:         slices.Clone(prev.Conditions),
	}
	nodes := make([]string, 0, len(v.Spec.Replicas)+len(in.Leaving))
	for _, r := range v.Spec.Replicas {
		nodes = append(nodes, r.Node)
	}
	nodes = append(nodes, in.Leaving...)
	slices.Sort(nodes)
	nodes = slices.Compact(nodes)
	for _, n := range nodes {
		var p *storagev1alpha1.ReplicaStatus
		if i := slices.IndexFunc(prev.Replicas, func(r storagev1alpha1.ReplicaStatus) bool { return r.Node == n }); i >= 0 {
			p = &prev.Replicas[i]
		}
		out.Replicas = append(out.Replicas, ObserveReplica(v, n, in.Reports[n], p))
	}
	setCondition(&out, v.Generation, in.Placed)
	ready, degraded := readiness(v, out.Replicas, in.DrbdLayer, in.Placed.Status == metav1.ConditionTrue)
	// Degraded appears the first time the volume is Ready and stays: before
	// that, a volume being deployed is not degraded (see fresh).
	everReady := meta.FindStatusCondition(prev.Conditions, storagev1alpha1.ConditionDegraded) != nil
	setCondition(&out, v.Generation, ready)
	if everReady || ready.Status == metav1.ConditionTrue {
		setCondition(&out, v.Generation, degraded)
	}
	return out
}

// setCondition sets c with the generation, keeping the transition time when
// the status does not change.
func setCondition(st *storagev1alpha1.StorageVolumeStatus, gen int64, c metav1.Condition) {
	c.ObservedGeneration = gen
	meta.SetStatusCondition(&st.Conditions, c)
}

// readiness decides the Ready and Degraded conditions.
func readiness(v *storagev1alpha1.StorageVolume, reps []storagev1alpha1.ReplicaStatus, drbd, placed bool) (ready, degraded metav1.Condition) {
	ready = metav1.Condition{Type: storagev1alpha1.ConditionReady, Status: metav1.ConditionFalse}
	degraded = metav1.Condition{Type: storagev1alpha1.ConditionDegraded, Status: metav1.ConditionFalse, Reason: "AllReplicasHealthy", Message: "every replica is deployed and up to date"}
	if !placed {
		ready.Reason, ready.Message = "NotPlaced", "the volume has no complete placement yet"
		return ready, degraded
	}
	if len(v.Spec.Volumes) == 0 {
		ready.Reason, ready.Message = "NoVolumeDefinitions", "the resource definition has no volumes yet"
		return ready, degraded
	}
	var waiting, bad []string
	deployed := 0
	for _, r := range reps {
		spec := v.Spec.Replica(r.Node)
		if spec == nil {
			continue // leaving: not part of readiness
		}
		problem := replicaProblem(v, spec, &r, drbd)
		if r.Deployed {
			deployed++
		}
		switch {
		case problem == "":
		case r.Deployed:
			bad = append(bad, r.Node+": "+problem)
		default:
			waiting = append(waiting, r.Node+": "+problem)
		}
	}
	total := len(v.Spec.Replicas)
	if len(waiting)+len(bad) == 0 {
		ready.Status, ready.Reason = metav1.ConditionTrue, "Deployed"
		ready.Message = fmt.Sprintf("%d of %d replicas deployed and up to date", total, total)
		return ready, degraded
	}
	problems := strings.Join(append(slices.Clone(bad), waiting...), "; ")
	ready.Reason = "Deploying"
	if deployed == total {
		ready.Reason = "Syncing"
	}
	ready.Message = fmt.Sprintf("%d of %d replicas deployed: %s", deployed, total, problems)
	degraded.Status, degraded.Reason, degraded.Message = metav1.ConditionTrue, "ReplicaUnhealthy", problems
	return ready, degraded
}

// replicaProblem says what keeps one replica from being ready, "" when it is.
func replicaProblem(v *storagev1alpha1.StorageVolume, spec *storagev1alpha1.Replica, r *storagev1alpha1.ReplicaStatus, drbd bool) string {
	volumes := len(v.Spec.Volumes)
	switch {
	case r.LastError != "" && !r.Deployed:
		return r.LastError
	case !r.Deployed:
		return "not deployed yet"
	case len(r.Volumes) < volumes:
		return fmt.Sprintf("%d of %d volumes deployed", len(r.Volumes), volumes)
	}
	for _, vs := range r.Volumes {
		if vs.DevicePath == "" {
			return fmt.Sprintf("volume %d has no device path", vs.Number)
		}
		if !drbd {
			continue
		}
		want := "UpToDate"
		if spec.Diskless {
			want = "Diskless"
		}
		if vs.DiskState != want {
			return fmt.Sprintf("volume %d is %s", vs.Number, cmp.Or(vs.DiskState, "down"))
		}
	}
	if drbd {
		if p := disconnectedPeer(v, spec.Node, r); p != "" {
			return "not connected to " + p
		}
	}
	return r.LastError
}

// disconnectedPeer names a replica of the spec this replica is not
// Connected to, "" when it is connected to all.
func disconnectedPeer(v *storagev1alpha1.StorageVolume, node string, r *storagev1alpha1.ReplicaStatus) string {
	for _, peer := range v.Spec.Replicas {
		if peer.Node == node {
			continue
		}
		i := slices.IndexFunc(r.Connections, func(c storagev1alpha1.ConnectionStatus) bool { return c.Peer == peer.Node })
		if i < 0 || r.Connections[i].State != "Connected" {
			return peer.Node
		}
	}
	return ""
}
