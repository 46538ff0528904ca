package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	"github.com/piraeusctl/piraeusctl/plan"
	"github.com/piraeusctl/piraeusctl/plan/placement"
)

// Event reasons on StorageVolumes.
const (
	reasonPlaced            = "Placed"
	reasonPlacementFailed   = "PlacementFailed"
	reasonAllocationFailed  = "AllocationConflict"
	reasonReady             = "Ready"
	reasonDegraded          = "Degraded"
	reasonDeleted           = "StorageDeleted"
	reasonDeleteRefused     = "DeleteRefused"
	reasonReplicaRemoved    = "ReplicaRemoved"
	conflictRetry           = time.Minute
	placementRetry          = 30 * time.Second
	deletionWaitingInterval = 5 * time.Second
	// conflictRequeue: a reconcile that met a newer version looks again
	// this soon (its informer event usually requeues it first).
	conflictRequeue = 200 * time.Millisecond
	// statusGrace: how long a new volume's transient waiting states go
	// unwritten (transientWait).
	statusGrace = time.Second
)

// Reasons of a Placed condition that is False while creation goes on.
const (
	reasonWaitingForPlacement = "WaitingForPlacement"
	reasonNoVolumeDefinitions = "NoVolumeDefinitions"
	reasonPlacing             = "Placing"
)

// volumeEvent queues the volume of an informer event, and its nodes when
// what they must hold may have changed: the node loops read the same cache,
// so they see at least this state.
func (c *Controller) volumeEvent(old, obj any) {
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	v, ok := obj.(*storagev1alpha1.StorageVolume)
	if !ok {
		return
	}
	c.volumes.Add(v.Name)
	o, _ := old.(*storagev1alpha1.StorageVolume)
	if o != nil && !concernsNodes(o, v) {
		return
	}
	for _, n := range volumeNodes(v) {
		c.nodes.Add(n)
	}
	if o != nil {
		for _, n := range volumeNodes(o) {
			c.nodes.Add(n)
		}
	}
}

// concernsNodes reports whether a volume update changes what its nodes
// hold: its spec, its deletion, whether it is placed, or its status nodes.
func concernsNodes(o, v *storagev1alpha1.StorageVolume) bool {
	return o.Generation != v.Generation ||
		(o.DeletionTimestamp == nil) != (v.DeletionTimestamp == nil) ||
		meta.IsStatusConditionTrue(o.Status.Conditions, storagev1alpha1.ConditionPlaced) != meta.IsStatusConditionTrue(v.Status.Conditions, storagev1alpha1.ConditionPlaced) ||
		!slices.Equal(volumeNodes(o), volumeNodes(v))
}

// reconcileVolume converges one StorageVolume: finalizer, placement,
// allocations, telling its nodes, deletion, status.
func (c *Controller) reconcileVolume(ctx context.Context, name string) (time.Duration, error) {
	v := &storagev1alpha1.StorageVolume{}
	if err := c.client.Get(ctx, types.NamespacedName{Name: name}, v); err != nil {
		if apierrors.IsNotFound(err) {
			c.forgetVolume(name)
			return 0, nil
		}
		return 0, err
	}
	if v.DeletionTimestamp != nil {
		return c.finalizeVolume(ctx, v)
	}
	if !controllerutil.ContainsFinalizer(v, storagev1alpha1.StorageVolumeFinalizer) {
		controllerutil.AddFinalizer(v, storagev1alpha1.StorageVolumeFinalizer)
		return 0, c.client.Update(ctx, v)
	}
	topo, err := c.topology(ctx)
	if err != nil {
		return 0, err
	}
	placed, after, written, err := c.ensurePlaced(ctx, v, topo)
	if err != nil || written {
		return after, err // a written spec comes back as an update event
	}
	if err := c.dropCloneSnapshot(ctx, v); err != nil {
		return 0, err
	}
	if wait := transientWait(v, placed, time.Now()); wait > 0 {
		return wait, nil
	}
	return after, c.writeVolumeStatus(ctx, v, topo, placed)
}

// transientWait is how long a new volume's first status waits while it is
// only waiting for the next step of its creation (its volume definition,
// its placement), states that last milliseconds when all goes well: in a
// burst of creates, writing them would double the status writes. A state
// that lasts past statusGrace is written.
func transientWait(v *storagev1alpha1.StorageVolume, placed metav1.Condition, now time.Time) time.Duration {
	if placed.Status != metav1.ConditionFalse || meta.FindStatusCondition(v.Status.Conditions, storagev1alpha1.ConditionPlaced) != nil {
		return 0
	}
	switch placed.Reason {
	case reasonWaitingForPlacement, reasonNoVolumeDefinitions, reasonPlacing:
	default:
		return 0
	}
	left := statusGrace - now.Sub(v.CreationTimestamp.Time)
	return min(max(left, 0), statusGrace)
}

// ensurePlaced makes sure the volume has replicas and complete, registered
// allocations. It returns the Placed condition and when to look again;
// written means it just wrote the spec instead.
func (c *Controller) ensurePlaced(ctx context.Context, v *storagev1alpha1.StorageVolume, topo *storagev1alpha1.StorageTopology) (placed metav1.Condition, after time.Duration, written bool, err error) {
	placed, after, written, err = c.placement(ctx, v, topo)
	placed.Type = storagev1alpha1.ConditionPlaced
	return placed, after, written, err
}

func (c *Controller) placement(ctx context.Context, v *storagev1alpha1.StorageVolume, topo *storagev1alpha1.StorageTopology) (metav1.Condition, time.Duration, bool, error) {
	placed := metav1.Condition{Type: storagev1alpha1.ConditionPlaced, Status: metav1.ConditionFalse}
	switch {
	case topo == nil:
		placed.Reason, placed.Message = "NoTopology", "StorageTopology "+plan.TopologyName+" does not exist yet"
		return placed, placementRetry, false, nil
	case len(v.Spec.Replicas) == 0 && v.Spec.ManualPlacement:
		placed.Reason, placed.Message = reasonWaitingForPlacement, "manual placement: waiting for resources to be created through the LINSTOR API"
		return placed, 0, false, nil
	case len(v.Spec.Replicas) == 0 && restoreSource(v) != "":
		return c.placeFromSnapshot(ctx, v)
	case len(v.Spec.Replicas) == 0 && len(v.Spec.Volumes) == 0:
		placed.Reason, placed.Message = reasonNoVolumeDefinitions, "waiting for a volume definition before placing"
		return placed, 0, false, nil
	case len(v.Spec.Replicas) == 0:
		if why := c.unplacedReason(v.Name); why != "" {
			placed.Reason, placed.Message = reasonPlacementFailed, why
			c.placer.add(v.Name)
			return placed, placementRetry, false, nil
		}
		c.placer.add(v.Name)
		placed.Reason, placed.Message = reasonPlacing, "waiting for the autoplacer"
		return placed, 0, false, nil
	}
	drbdLayer, err := usesDRBD(v, topo)
	if err != nil {
		placed.Reason, placed.Message = "InvalidLayers", err.Error()
		return placed, 0, false, nil
	}
	needs := allocationNeeds(v, drbdLayer)
	if len(needs) == 0 {
		placed.Status, placed.Reason, placed.Message = metav1.ConditionTrue, reasonPlaced, placedMessage(v)
		return placed, 0, false, nil
	}
	grants, err := c.reserver.Reserve(ctx, topo.Spec.Allocation, needs)
	var conflict *placement.NumberConflictError
	switch {
	case errors.As(err, &conflict):
		placed.Reason, placed.Message = reasonAllocationFailed, err.Error()
		c.eventOnce(v, corev1.EventTypeWarning, reasonAllocationFailed, err.Error())
		return placed, conflictRetry, false, nil
	case err != nil:
		placed.Reason, placed.Message = "AllocationFailed", err.Error()
		return placed, placementRetry, false, nil
	}
	if written, err := c.recordGrants(ctx, v, grants); err != nil || written {
		return placed, 0, written, err
	}
	placed.Status, placed.Reason, placed.Message = metav1.ConditionTrue, reasonPlaced, placedMessage(v)
	return placed, 0, false, nil
}

// placedMessage describes a placement for the Placed condition.
func placedMessage(v *storagev1alpha1.StorageVolume) string {
	var nodes []string
	for _, r := range v.Spec.Replicas {
		kind := r.StoragePool
		if r.Diskless {
			kind = "diskless"
			if r.TieBreaker {
				kind = "tie-breaker"
			}
		}
		nodes = append(nodes, r.Node+" ("+kind+")")
	}
	return fmt.Sprintf("%d replicas: %v", len(v.Spec.Replicas), nodes)
}

// usesDRBD reports whether the volume's layer list has DRBD.
func usesDRBD(v *storagev1alpha1.StorageVolume, topo *storagev1alpha1.StorageTopology) (bool, error) {
	layers, err := layerList(v, resourceGroup(&topo.Spec, v.Spec.ResourceGroup))
	if err != nil {
		return false, err
	}
	return slices.Contains(layers, agentv1.Layer_DRBD), nil
}

// allocationNeeds lists what each replica must hold in its node's ledger:
// every DRBD replica, with what the spec already records. The ledger makes
// the call free when all is registered.
func allocationNeeds(v *storagev1alpha1.StorageVolume, drbdLayer bool) []Need {
	if !drbdLayer {
		return nil
	}
	needs := make([]Need, 0, len(v.Spec.Replicas))
	for _, r := range v.Spec.Replicas {
		needs = append(needs, Need{Volume: v.Name, UID: string(v.UID), Node: r.Node, Port: r.Port, Minors: r.Minors, MinorCount: len(v.Spec.Volumes)})
	}
	return needs
}

// recordGrants writes the granted numbers the spec does not record yet;
// written reports whether the spec changed.
func (c *Controller) recordGrants(ctx context.Context, v *storagev1alpha1.StorageVolume, grants map[string]map[string]Grant) (bool, error) {
	upd := v.DeepCopy()
	for i := range upd.Spec.Replicas {
		r := &upd.Spec.Replicas[i]
		g, ok := grants[v.Name][r.Node]
		if !ok {
			continue
		}
		r.Port = g.Port
		r.Minors = g.Minors
	}
	if equality.Semantic.DeepEqual(upd.Spec, v.Spec) {
		return false, nil
	}
	if err := c.client.Update(ctx, upd); err != nil {
		return false, fmt.Errorf("record allocations of %s: %w", v.Name, err)
	}
	return true, nil
}

// writeVolumeStatus computes the status and writes it when it changed.
func (c *Controller) writeVolumeStatus(ctx context.Context, v *storagev1alpha1.StorageVolume, topo *storagev1alpha1.StorageTopology, placed metav1.Condition) error {
	drbdLayer := false
	if topo != nil {
		drbdLayer, _ = usesDRBD(v, topo)
	}
	reports := c.reportsCopy()
	st := VolumeStatus(v, StatusInput{Reports: reports, Placed: placed, DrbdLayer: drbdLayer, Leaving: stillKnown(leavingNodes(v, reports), topo, reports)})
	if equality.Semantic.DeepEqual(st, v.Status) {
		return nil
	}
	upd := v.DeepCopy()
	upd.Status = st
	if err := c.client.Status().Update(ctx, upd); err != nil {
		return fmt.Errorf("write status of %s: %w", v.Name, err)
	}
	c.statusEvents(v, &st)
	return nil
}

// leavingNodes are nodes outside the spec that still hold the volume: their
// agent reports it, or (agent unheard) the last status said deployed.
func leavingNodes(v *storagev1alpha1.StorageVolume, reports map[string]*NodeReport) []string {
	var out []string
	for _, r := range v.Status.Replicas {
		if v.Spec.Replica(r.Node) != nil {
			continue
		}
		rep := reports[r.Node]
		switch {
		case rep == nil || !rep.Connected:
			if r.Deployed {
				out = append(out, r.Node)
			}
		case holds(rep, v):
			out = append(out, r.Node)
		}
	}
	return out
}

// stillKnown drops the leaving nodes that left the topology and whose
// agent is not heard: a node evacuated (or declared gone for good) after
// its Node was deleted can no longer report what it removed, and its
// replicas' data lives on the others.
func stillKnown(nodes []string, topo *storagev1alpha1.StorageTopology, reports map[string]*NodeReport) []string {
	if topo == nil {
		return nodes
	}
	return slices.DeleteFunc(nodes, func(n string) bool {
		rep := reports[n]
		return topo.Spec.Node(n) == nil && (rep == nil || !rep.Connected)
	})
}

// holds reports whether the node's agent reports the volume (by name and uid).
func holds(rep *NodeReport, v *storagev1alpha1.StorageVolume) bool {
	rs := rep.resource(v.Name)
	return rs != nil && rs.GetUid() == string(v.UID)
}

// statusEvents records Events for condition transitions.
func (c *Controller) statusEvents(old *storagev1alpha1.StorageVolume, st *storagev1alpha1.StorageVolumeStatus) {
	was := meta.IsStatusConditionTrue(old.Status.Conditions, storagev1alpha1.ConditionReady)
	is := meta.IsStatusConditionTrue(st.Conditions, storagev1alpha1.ConditionReady)
	if !was && is {
		c.recorder.Event(old, corev1.EventTypeNormal, reasonReady, meta.FindStatusCondition(st.Conditions, storagev1alpha1.ConditionReady).Message)
		if meta.FindStatusCondition(old.Status.Conditions, storagev1alpha1.ConditionDegraded) == nil {
			c.metrics.convergeSeconds.Observe(time.Since(old.CreationTimestamp.Time).Seconds())
		}
	}
	wasD := meta.IsStatusConditionTrue(old.Status.Conditions, storagev1alpha1.ConditionDegraded)
	isD := meta.IsStatusConditionTrue(st.Conditions, storagev1alpha1.ConditionDegraded)
	if !wasD && isD {
		c.recorder.Event(old, corev1.EventTypeWarning, reasonDegraded, meta.FindStatusCondition(st.Conditions, storagev1alpha1.ConditionDegraded).Message)
	}
	wasP := meta.IsStatusConditionTrue(old.Status.Conditions, storagev1alpha1.ConditionPlaced)
	if p := meta.FindStatusCondition(st.Conditions, storagev1alpha1.ConditionPlaced); !wasP && p != nil && p.Status == metav1.ConditionTrue {
		c.recorder.Event(old, corev1.EventTypeNormal, reasonPlaced, p.Message)
	}
}

// eventOnce records a warning unless the volume's status already says it.
func (c *Controller) eventOnce(v *storagev1alpha1.StorageVolume, typ, reason, msg string) {
	if p := meta.FindStatusCondition(v.Status.Conditions, storagev1alpha1.ConditionPlaced); p != nil && p.Reason == reason && p.Message == msg {
		return
	}
	c.recorder.Event(v, typ, reason, msg)
}

// fresh reports whether a volume has never been Ready (so one replica's
// data may start it). The Degraded condition is set the first time the
// volume is Ready and stays, so its absence means never Ready.
func fresh(v *storagev1alpha1.StorageVolume) bool {
	return meta.FindStatusCondition(v.Status.Conditions, storagev1alpha1.ConditionDegraded) == nil
}

// unplacedReason is why the last placement attempt failed, "" when none did.
func (c *Controller) unplacedReason(name string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.unplaced[name]
}

// forgetVolume drops in-memory state of a volume that is gone.
func (c *Controller) forgetVolume(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.unplaced, name)
	if uid, ok := c.finalized[name]; ok {
		delete(c.deleted, uid)
		delete(c.finalized, name)
	}
}
