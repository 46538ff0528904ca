package placement

import (
	"fmt"
	"slices"
	"strings"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
)

// Step is where one replica of an evacuating node is in its move: a
// replacement is added while the old replica stays (DRBD syncs the new one
// from it and the others), and the old replica leaves the spec only once
// every other diskful replica is UpToDate and no Pod uses it there. Each
// plan takes one step per replica; the volume's status says when the next
// is due.
type Step string

const (
	// StepAdd: this plan adds the replacement; the old replica stays.
	StepAdd Step = "AddReplacement"
	// StepSync: the old replica stays until the replicas waited for are UpToDate.
	StepSync Step = "WaitForSync"
	// StepDetach: the volume is in use on the evacuating node; the old
	// replica stays until it is detached there.
	StepDetach Step = "WaitForDetach"
	// StepNoTarget: no node can take a replacement; the old replica stays.
	StepNoTarget Step = "NoTarget"
	// StepDrop: the others are UpToDate, so the old replica leaves the spec
	// (the controller removes it once the agents confirm).
	StepDrop Step = "DropOld"
)

// Stays reports whether the old replica stays in the spec at this step.
func (s Step) Stays() bool { return s != StepDrop }

// StepText says what a step does, for people.
func (m Move) StepText() string {
	switch m.Step {
	case StepAdd:
		return fmt.Sprintf("add a replica on %s; the one on %s stays until %s is UpToDate", m.To, m.From, m.To)
	case StepSync:
		return fmt.Sprintf("the replica on %s stays until %s is UpToDate", m.From, strings.Join(m.Waiting, ", "))
	case StepDetach:
		return fmt.Sprintf("the replica on %s stays until the volume is detached there (move its Pod: drain the node)", m.From)
	case StepNoTarget:
		return fmt.Sprintf("the replica on %s stays: no other node can take it (%s)", m.From, m.Why)
	case StepDrop:
		return fmt.Sprintf("drop the replica on %s: %s UpToDate", m.From, strings.Join(m.Waiting, ", "))
	}
	return m.Why
}

// evacuate takes the step of each replica on an evacuating node, pairing
// the new replicas added for them in order; it returns the replicas that
// stay.
func (p *placer) evacuate(v *storagev1alpha1.StorageVolume, st *volumeState, added []storagev1alpha1.Replica, want int, why []string) []storagev1alpha1.Replica {
	var stay []storagev1alpha1.Replica
	ready := func(node string) bool { return upToDate(st.status, node, len(v.Spec.Volumes), st.drbd) }
	others := slices.Concat(st.kept, added)
	for i, r := range st.evacuating {
		var replacement *storagev1alpha1.Replica
		if i < len(added) {
			replacement = &added[i]
			replacement.Reason = fmt.Sprintf("replaces replica on evacuating node %s; %s", r.Node, replacement.Reason)
		}
		m := evacuationStep(r.Node, replacement, others, want, ready, inUse(st.status, r.Node))
		m.Volume, m.Why = v.Name, "node is evacuated"
		if m.Step == StepNoTarget {
			m.Why = strings.Join(why, "; ")
		}
		p.result.Moves = append(p.result.Moves, m)
		if m.Step.Stays() {
			r.Reason = fmt.Sprintf("%s%s; %s", evacuatingReason, m.Step, withoutStep(r.Reason))
			stay = append(stay, r)
			continue
		}
		p.c.byName[r.Node].pool(r.StoragePool).allocated -= v.Spec.SizeBytes()
	}
	return stay
}

// evacuationStep decides the step of the replica on an evacuating node
// (from): replacement is the replica added for it in this plan, if any;
// others are the diskful replicas of the spec on other nodes (kept and
// added); want is the group's place count; ready says whether a node's
// replica is UpToDate; inUse whether the volume is in use on from.
func evacuationStep(from string, replacement *storagev1alpha1.Replica, others []storagev1alpha1.Replica, want int, ready func(string) bool, inUse bool) Move {
	m := Move{From: from}
	if replacement != nil {
		m.Step, m.To, m.Waiting = StepAdd, replacement.Node, []string{replacement.Node}
		return m
	}
	if len(others) < want {
		m.Step = StepNoTarget
		return m
	}
	var nodes, waiting []string
	for _, o := range others {
		nodes = append(nodes, o.Node)
		if !ready(o.Node) {
			waiting = append(waiting, o.Node)
		}
	}
	switch {
	case len(waiting) > 0:
		m.Step, m.Waiting = StepSync, waiting
	case inUse:
		m.Step = StepDetach
	default:
		m.Step, m.Waiting = StepDrop, nodes
	}
	return m
}

// upToDate reports whether the status shows the node's replica deployed
// with all its volumes UpToDate (with DRBD; else with a device).
func upToDate(st *storagev1alpha1.StorageVolumeStatus, node string, volumes int, drbd bool) bool {
	r := replicaStatus(st, node)
	if r == nil || !r.Deployed || len(r.Volumes) < volumes {
		return false
	}
	for _, vs := range r.Volumes {
		if drbd && vs.DiskState != "UpToDate" || !drbd && vs.DevicePath == "" {
			return false
		}
	}
	return true
}

// inUse reports whether the status shows the volume in use on node.
func inUse(st *storagev1alpha1.StorageVolumeStatus, node string) bool {
	r := replicaStatus(st, node)
	return r != nil && r.InUse
}

func replicaStatus(st *storagev1alpha1.StorageVolumeStatus, node string) *storagev1alpha1.ReplicaStatus {
	if st == nil {
		return nil
	}
	for i := range st.Replicas {
		if st.Replicas[i].Node == node {
			return &st.Replicas[i]
		}
	}
	return nil
}

// evacuatingReason starts the reason of a replica staying on an evacuating node.
const evacuatingReason = "on evacuating node, "

// withoutStep drops the step an earlier plan recorded in a reason.
func withoutStep(reason string) string {
	if rest, ok := strings.CutPrefix(reason, evacuatingReason); ok {
		if _, after, found := strings.Cut(rest, "; "); found {
			return after
		}
	}
	return reason
}
