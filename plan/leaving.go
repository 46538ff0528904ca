package plan

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	piraeusv1 "github.com/piraeusctl/piraeusctl/api/v1"
	"github.com/piraeusctl/piraeusctl/plan/placement"
)

// Node removal follows upstream piraeus-operator's deletion policies. A
// node leaves when it is in the previous StorageTopology but the plan has
// no satellite for it any more: its Node was deleted, or the LinstorCluster
// no longer selects it. Then, by the node's deletion policy:
//
//   - Evacuate: the node stays in the topology (no new replicas) while its
//     replicas move, each step by step: a replacement is placed by the
//     same placement code, the old replica stays until the replacement is
//     UpToDate, then it leaves the spec (and the controller removes it).
//     A replica whose volume is in use on the node stays until it is
//     detached, at most the node's evacuationStrategy
//     attachedVolumeReattachTimeout (5m by default, 0: no wait) after the
//     node started leaving (NodeLeaving.Since, the plan's time then); after
//     that it stays diskless until detached, as LINSTOR's evacuation leaves
//     an in-use resource. unattachedVolumeAttachTimeout has no effect: a
//     volume attached nowhere may be attached anywhere during the moves.
//     At most LinstorCluster.spec.maxConcurrentEvacuations nodes evacuate
//     at once. Once no replica is left the evacuation is complete; the
//     node leaves the topology at the next plan, so the operator can
//     report EvacuationCompleted first.
//   - Retain (the default): the node stays in the topology, lost, with its
//     replicas; nothing moves and nothing new is placed there. Its
//     satellite's objects are removed.
//   - Delete: the node leaves the topology at once and its replicas are
//     dropped (as `linstor node lost`); placement tops the volumes up on
//     other nodes from their remaining replicas. The webhook refuses it
//     when the node holds the last replica of a volume.
//
// A node named in the previous StorageTopology's ForceRemoveNodesAnnotation
// is gone for good whatever its policy, as Delete but never refused.

// Leaving states (LeavingNode.State).
const (
	// LeavingWaiting: an evacuation waits for a slot (maxConcurrentEvacuations).
	LeavingWaiting = "Waiting"
	// LeavingEvacuating: replicas are moving.
	LeavingEvacuating = "Evacuating"
	// LeavingEvacuated: no replica is left; the node leaves the topology at the next plan.
	LeavingEvacuated = "Evacuated"
	// LeavingRemoved: the node left the topology in this plan.
	LeavingRemoved = "Removed"
	// LeavingRetained: the node stays, lost, with its replicas (Retain).
	LeavingRetained = "Retained"
)

// LeavingNode is a node that left the cluster and what its deletion policy
// does in this plan.
type LeavingNode struct {
	Node   string
	Policy piraeusv1.DeletionPolicy
	// Reason: storagev1alpha1.LeavingNodeDeleted or LeavingNotSelected.
	Reason string
	// Forced: named in the force-remove annotation.
	Forced bool
	// State is one of the Leaving* states.
	State string
	// Holders are the volumes with a replica on the node after this plan.
	Holders []string
	// Steps are the evacuation steps of its replicas in this plan.
	Steps []placement.Move
}

// Message says, for people, what happens to the node.
func (l *LeavingNode) Message() string {
	why := "its Node was deleted"
	if l.Reason == storagev1alpha1.LeavingNotSelected {
		why = "the LinstorCluster no longer selects it"
	}
	switch l.State {
	case LeavingWaiting:
		return fmt.Sprintf("%s; evacuation waits for a free slot (LinstorCluster.spec.maxConcurrentEvacuations): %d volume(s) still have a replica here", why, len(l.Holders))
	case LeavingEvacuating:
		return fmt.Sprintf("%s; evacuating %d volume(s): %s", why, len(l.Holders), stepsText(l.Steps))
	case LeavingEvacuated:
		return why + "; every replica has moved to other nodes: the node leaves the StorageTopology and its satellite is removed at the next pass"
	case LeavingRetained:
		return fmt.Sprintf("%s; deletion policy Retain keeps it registered, lost, with the replicas of %d volume(s) (%s); nothing moves: to move them set deletionPolicy Evacuate, or if it is gone for good name it in the StorageTopology annotation %s",
			why, len(l.Holders), summarise(l.Holders, 3), ForceRemoveNodesAnnotation)
	}
	if l.Forced {
		return why + "; named in " + ForceRemoveNodesAnnotation + ": removed, its replicas are replaced from the other replicas"
	}
	return fmt.Sprintf("%s; removed (deletion policy %s)", why, cmp.Or(l.Policy, piraeusv1.DeletionPolicyRetain))
}

func stepsText(steps []placement.Move) string {
	s := make([]string, len(steps))
	for i, m := range steps {
		s[i] = m.Volume + ": " + m.StepText()
	}
	return summarise(s, 5)
}

// leavingNodes adds the nodes of the previous topology the plan no longer
// has a satellite for, by their deletion policy (addLeaving), then admits
// the evacuations maxConcurrentEvacuations allows.
func (m *Model) leavingNodes(previous *storagev1alpha1.StorageTopologySpec, now time.Time) {
	if previous == nil {
		return
	}
	present := map[string]bool{}
	for _, n := range m.Topology.Spec.Nodes {
		present[n.Name] = true
	}
	nodes := map[string]*corev1.Node{}
	for i := range m.Nodes {
		nodes[m.Nodes[i].Name] = &m.Nodes[i]
	}
	for i := range previous.Nodes {
		if !present[previous.Nodes[i].Name] {
			m.addLeaving(&previous.Nodes[i], nodes[previous.Nodes[i].Name], now)
		}
	}
	if len(m.Leaving) == 0 {
		return
	}
	m.keepLeavingConnections(previous)
	slices.SortFunc(m.Topology.Spec.Nodes, func(a, b storagev1alpha1.TopologyNode) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(m.Satellites, func(a, b Satellite) int { return cmp.Compare(a.Node, b.Node) })
	var evacuating []*storagev1alpha1.TopologyNode
	for i := range m.Topology.Spec.Nodes {
		if l := m.Topology.Spec.Nodes[i].Leaving; l != nil && l.Policy == piraeusv1.DeletionPolicyEvacuate {
			evacuating = append(evacuating, &m.Topology.Spec.Nodes[i])
		}
	}
	admitEvacuations(evacuating, previous, int(m.Cluster.Spec.MaxConcurrentEvacuations))
}

// addLeaving records one leaving node (k8sNode nil when its Node is
// gone): Evacuate and Retain nodes stay in the topology marked Leaving (an
// evacuating node whose Node exists keeps its satellite), Delete and
// forced nodes are dropped. A node that starts leaving records now as
// Since; later plans carry it over.
func (m *Model) addLeaving(prev *storagev1alpha1.TopologyNode, k8sNode *corev1.Node, now time.Time) {
	l := LeavingNode{Node: prev.Name, Reason: storagev1alpha1.LeavingNodeDeleted, Forced: m.forceRemove[prev.Name], State: LeavingRemoved}
	var merged *mergedSatellite
	if k8sNode != nil {
		l.Reason = storagev1alpha1.LeavingNotSelected
		merged = m.mergedFor(k8sNode)
	}
	l.Policy = leavingPolicy(prev, merged)
	m.Leaving = append(m.Leaving, l)
	if l.Forced || l.Policy == piraeusv1.DeletionPolicyDelete {
		return
	}
	tn := *prev.DeepCopy()
	if merged != nil && l.Policy == piraeusv1.DeletionPolicyEvacuate {
		// The Node is still there: its satellite keeps running (and its
		// entry follows the Node) until the evacuation is complete.
		tn = topologyNode(merged)
		m.Satellites = append(m.Satellites, satelliteOf(merged))
	}
	tn.Leaving = &storagev1alpha1.NodeLeaving{Policy: l.Policy, Reason: l.Reason}
	if !now.IsZero() {
		tn.Leaving.Since = &metav1.Time{Time: now}
	}
	if prev.Leaving != nil {
		tn.Leaving.Evacuated = prev.Leaving.Evacuated
		if prev.Leaving.Since != nil {
			tn.Leaving.Since = prev.Leaving.Since.DeepCopy()
		}
	}

	m.Topology.Spec.Nodes = append(m.Topology.Spec.Nodes, tn)
}

// keepLeavingConnections carries over the previous node connections of
// the leaving nodes that stay in the topology: DRBD keeps its settings
// towards them while their replicas move.
func (m *Model) keepLeavingConnections(previous *storagev1alpha1.StorageTopologySpec) {
	staying := map[string]bool{}
	for _, n := range m.Topology.Spec.Nodes {
		staying[n.Name] = true
	}
	leaving := map[string]bool{}
	for _, n := range m.Topology.Spec.Nodes {
		if n.Leaving != nil {
			leaving[n.Name] = true
		}
	}
	for _, c := range previous.NodeConnections {
		if (leaving[c.NodeA] || leaving[c.NodeB]) && staying[c.NodeA] && staying[c.NodeB] {
			m.Topology.Spec.NodeConnections = append(m.Topology.Spec.NodeConnections, *c.DeepCopy())
		}
	}
	slices.SortFunc(m.Topology.Spec.NodeConnections, func(a, b storagev1alpha1.NodeConnection) int {
		return cmp.Or(cmp.Compare(a.NodeA, b.NodeA), cmp.Compare(a.NodeB, b.NodeB))
	})
}

// mergedFor merges the satellite configurations of a node the cluster no
// longer selects (nil when they do not merge: the node keeps its previous
// entry).
func (m *Model) mergedFor(n *corev1.Node) *mergedSatellite {
	s, errs := mergeSatellites([]*corev1.Node{n}, m.satelliteCfgs)
	if len(errs) > 0 || len(s) != 1 {
		return nil
	}
	return s[0]
}

// leavingPolicy is the deletion policy a leaving node follows: the one it
// started leaving with, else its configurations' (when its Node exists),
// else the previous topology's; Retain when none is set, as upstream.
func leavingPolicy(prev *storagev1alpha1.TopologyNode, merged *mergedSatellite) piraeusv1.DeletionPolicy {
	switch {
	case prev.Leaving != nil:
		return prev.Leaving.Policy
	case merged != nil && merged.deletion != "":
		return merged.deletion
	}
	return cmp.Or(prev.DeletionPolicy, piraeusv1.DeletionPolicyRetain)
}

// admitEvacuations marks Waiting the evacuations beyond max (0: no limit):
// those already under way keep their slot, then the others by node name.
func admitEvacuations(nodes []*storagev1alpha1.TopologyNode, previous *storagev1alpha1.StorageTopologySpec, limit int) {
	started := map[string]bool{}
	for _, n := range previous.Nodes {
		if n.Leaving != nil && n.Leaving.Policy == piraeusv1.DeletionPolicyEvacuate && !n.Leaving.Waiting {
			started[n.Name] = true
		}
	}
	order := slices.Clone(nodes)
	slices.SortStableFunc(order, func(a, b *storagev1alpha1.TopologyNode) int {
		if started[a.Name] != started[b.Name] {
			if started[a.Name] {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.Name, b.Name)
	})
	for i, n := range order {
		n.Leaving.Waiting = limit > 0 && i >= limit
	}
}

// settleLeaving decides, once volumes are placed, what became of each
// leaving node: a Retain node that holds nothing and an evacuation found
// complete by the previous plan leave the topology; an evacuation with
// nothing left is marked Evacuated.
func (m *Model) settleLeaving(placed *placement.Result) {
	if len(m.Leaving) == 0 {
		return
	}
	steps := map[string][]placement.Move{}
	for _, mv := range placed.Moves {
		if mv.Step != "" {
			steps[mv.From] = append(steps[mv.From], mv)
		}
	}
	drop := map[string]bool{}
	for i := range m.Leaving {
		l := &m.Leaving[i]
		tn := m.Topology.Spec.Node(l.Node)
		if tn == nil {
			continue // Delete or forced: already gone
		}
		l.Holders = holders(placed.Volumes, m.PreviousVolumes, l.Node, l.Reason == storagev1alpha1.LeavingNotSelected)
		l.Steps = steps[l.Node]
		switch {
		case tn.Leaving.Policy == piraeusv1.DeletionPolicyRetain && len(l.Holders) > 0:
			l.State = LeavingRetained
		case tn.Leaving.Policy == piraeusv1.DeletionPolicyRetain:
			drop[l.Node] = true // nothing to retain
		case tn.Leaving.Waiting && len(l.Holders) > 0:
			l.State = LeavingWaiting
		case len(l.Holders) > 0:
			l.State = LeavingEvacuating
			tn.Leaving.Evacuated = false
		case tn.Leaving.Evacuated:
			drop[l.Node] = true
		default: // nothing left (whether it waited for a slot or not)
			l.State = LeavingEvacuated
			tn.Leaving.Evacuated, tn.Leaving.Waiting = true, false
		}
	}
	m.Topology.Spec.Nodes = slices.DeleteFunc(m.Topology.Spec.Nodes, func(n storagev1alpha1.TopologyNode) bool { return drop[n.Name] })
	m.Satellites = slices.DeleteFunc(m.Satellites, func(s Satellite) bool { return drop[s.Node] })
	m.Topology.Spec.NodeConnections = slices.DeleteFunc(m.Topology.Spec.NodeConnections, func(c storagev1alpha1.NodeConnection) bool {
		return drop[c.NodeA] || drop[c.NodeB]
	})
}

// holders are the volumes with a replica on node: in the placed spec, or
// (when its agent may still run, deployed) in the previous volumes' status
// as long as the controller has not removed it.
func holders(placed, previous []storagev1alpha1.StorageVolume, node string, deployed bool) []string {
	set := map[string]bool{}
	for i := range placed {
		if placed[i].Spec.Replica(node) != nil {
			set[placed[i].Name] = true
		}
	}
	if deployed {
		for i := range previous {
			if r := previous[i].Status.Replica(node); r != nil && r.Deployed {
				set[previous[i].Name] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// NextDeadline is the earliest time an evacuation step of this plan waits
// for (a volume in use on an evacuating node goes diskless then): a plan
// made at that time moves on. Zero when no step waits for a time.
func (m *Model) NextDeadline() time.Time {
	var next time.Time
	for _, l := range m.Leaving {
		for _, s := range l.Steps {
			if d := s.Deadline; !d.IsZero() && (next.IsZero() || d.Before(next)) {
				next = d
			}
		}
	}
	return next
}

// LeavingNode returns what happens to a leaving node, nil when it is not leaving.
func (m *Model) LeavingNode(node string) *LeavingNode {
	for i := range m.Leaving {
		if m.Leaving[i].Node == node {
			return &m.Leaving[i]
		}
	}
	return nil
}

// leavingWarnings tell about nodes whose replicas this plan drops without
// moving them first.
func (m *Model) leavingWarnings(placed *placement.Result) ErrorList {
	var out ErrorList
	for i := range m.Leaving {
		l := &m.Leaving[i]
		if l.State != LeavingRemoved || l.Forced {
			continue
		}
		var lost []string
		for _, mv := range placed.Moves {
			if mv.From == l.Node && mv.Step == "" && strings.Contains(mv.Why, "no replica holding the data is left") {
				lost = append(lost, mv.Volume)
			}
		}
		if len(lost) > 0 {
			out = append(out, &Error{Object: "StorageTopology/" + TopologyName, Field: "spec.nodes",
				Message: fmt.Sprintf("node %s leaves with deletion policy %s, but it holds the last replica of %d volume(s) (%s): their data is lost unless the node comes back; the webhook refuses this unless the node is named in %s",
					l.Node, l.Policy, len(lost), summarise(lost, 3), ForceRemoveNodesAnnotation)})
		}
	}
	return out
}
