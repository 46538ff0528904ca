package placement

import (
	"fmt"
	"slices"
	"strings"
	"time"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
)

// Step is where one replica of an evacuating node is in its move: a
// replacement is added while the old replica stays (DRBD syncs the new one
// from it and the others), and the old replica leaves the spec only once
// every other diskful replica is UpToDate and no Pod uses it there. A
// volume still in use there when the node's attachedVolumeReattachTimeout
// (evacuation strategy, counted from when the node started leaving) has
// passed keeps its replica there, diskless: the data has moved, the Pod
// keeps running over the network, and the diskless replica leaves once it
// is detached (as LINSTOR's evacuation keeps an in-use resource diskless).
// Each plan takes one step per replica; the volume's status says when the
// next is due.
type Step string

const (
	// StepAdd: this plan adds the replacement; the old replica stays.
	StepAdd Step = "AddReplacement"
	// StepSync: the old replica stays until the replicas waited for are UpToDate.
	StepSync Step = "WaitForSync"
	// StepDetach: the volume is in use on the evacuating node; the old
	// replica stays until it is detached there, at most until the node's
	// attachedVolumeReattachTimeout has passed (then StepDropDisk).
	StepDetach Step = "WaitForDetach"
	// StepDropDisk: the volume is still in use on the evacuating node after
	// the timeout and the others are UpToDate: the old replica stays in the
	// spec as a diskless replica (the agent detaches its disk; the volume
	// stays attached over the network).
	StepDropDisk Step = "DropDisk"
	// StepDiskless: a diskless replica on the evacuating node stays while
	// the volume is in use there; it leaves once detached.
	StepDiskless Step = "DisklessUntilDetached"
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
		return fmt.Sprintf("the replica on %s stays until the volume is detached there (move its Pod: drain the node)%s", m.From, m.deadlineText())
	case StepDropDisk:
		why := "timed out after " + FormatDuration(*m.Timeout) + " waiting for its Pod to move"
		if *m.Timeout == 0 {
			why = "attachedVolumeReattachTimeout is 0: no wait for its Pod to move"
		}
		return fmt.Sprintf("the replica on %s becomes diskless: the volume stays attached over the network until it is detached there (%s); %s UpToDate", m.From, why, strings.Join(m.Waiting, ", "))
	case StepDiskless:
		return fmt.Sprintf("the diskless replica on %s stays until the volume is detached there (move its Pod: drain the node)", m.From)
	case StepNoTarget:
		return fmt.Sprintf("the replica on %s stays: no other node can take it (%s)", m.From, m.Why)
	case StepDrop:
		if len(m.Waiting) == 0 {
			return fmt.Sprintf("drop the diskless replica on %s: the volume is not in use there", m.From)
		}
		return fmt.Sprintf("drop the replica on %s: %s UpToDate", m.From, strings.Join(m.Waiting, ", "))
	}
	return m.Why
}

// deadlineText says when a replica waiting for its volume to be detached
// goes diskless ("" when it cannot).
func (m Move) deadlineText() string {
	switch {
	case m.Timeout == nil:
		return ""
	case m.Deadline.IsZero():
		return fmt.Sprintf("; it becomes diskless once attachedVolumeReattachTimeout (%s) has passed since the node started leaving", FormatDuration(*m.Timeout))
	}
	return fmt.Sprintf("; it becomes diskless at %s (attachedVolumeReattachTimeout %s)", m.Deadline.UTC().Format(time.RFC3339), FormatDuration(*m.Timeout))
}

// FormatDuration prints a duration as people write it: 5m, 1h30m, 45s.
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// DefaultReattachTimeout is attachedVolumeReattachTimeout when the node's
// configurations set no evacuation strategy (upstream's default).
const DefaultReattachTimeout = 5 * time.Minute

// detachWait is what the evacuation of a replica may do about a volume in
// use on its node.
type detachWait struct {
	inUse bool
	// timeout is the node's attachedVolumeReattachTimeout; nil when the
	// volume cannot go diskless there (no DRBD layer): it waits.
	timeout *time.Duration
	// deadline: when the timeout expires (zero when unknown); due: it has.
	deadline time.Time
	due      bool
}

// detachWaitOf is the wait of a volume's replica on evacuating node n at now.
func detachWaitOf(n *node, st *volumeState, now time.Time) detachWait {
	w := detachWait{inUse: inUse(st.status, n.name)}
	if !st.drbd {
		return w
	}
	timeout := n.reattach
	w.timeout = &timeout
	if !n.leavingSince.IsZero() {
		w.deadline = n.leavingSince.Add(timeout)
	}
	w.due = timeout <= 0 || !w.deadline.IsZero() && !now.IsZero() && !now.Before(w.deadline)
	return w
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
		n := p.c.byName[r.Node]
		m := evacuationStep(r.Node, replacement, others, want, ready, detachWaitOf(n, st, p.now))
		m.Volume, m.Why = v.Name, "node is evacuated"
		if m.Step == StepNoTarget {
			m.Why = strings.Join(why, "; ")
		}
		p.result.Moves = append(p.result.Moves, m)
		r.Reason = fmt.Sprintf("%s%s; %s", evacuatingReason, m.Step, withoutStep(r.Reason))
		switch m.Step {
		case StepDropDisk:
			// Stays diskless: with the kept diskless replicas, so it
			// neither counts as diskful nor takes a tie-breaker's place.
			n.pool(r.StoragePool).allocated -= v.Spec.SizeBytes()
			r.Diskless, r.StoragePool = true, ""
			st.keptDiskless = append(st.keptDiskless, r)
			n.diskless++
		case StepDrop:
			n.pool(r.StoragePool).allocated -= v.Spec.SizeBytes()
		default:
			stay = append(stay, r)
		}
	}
	return stay
}

// evacuationStep decides the step of the replica on an evacuating node
// (from): replacement is the replica added for it in this plan, if any;
// others are the diskful replicas of the spec on other nodes (kept and
// added); want is the group's place count; ready says whether a node's
// replica is UpToDate; wait whether the volume is in use on from and for
// how long that may hold the replica there diskful.
func evacuationStep(from string, replacement *storagev1alpha1.Replica, others []storagev1alpha1.Replica, want int, ready func(string) bool, wait detachWait) Move {
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
	case wait.inUse && wait.due:
		m.Step, m.Waiting, m.Timeout = StepDropDisk, nodes, wait.timeout
	case wait.inUse:
		m.Step, m.Timeout, m.Deadline = StepDetach, wait.timeout, wait.deadline
	default:
		m.Step, m.Waiting = StepDrop, nodes
	}
	return m
}

// upToDate reports whether the status shows the node's replica deployed
// with all its volumes UpToDate (with DRBD; else with a device).
func upToDate(st *storagev1alpha1.StorageVolumeStatus, node string, volumes int, drbd bool) bool {
	r := st.Replica(node)
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
	r := st.Replica(node)
	return r != nil && r.InUse
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
