package controller

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
)

const (
	// snapshotCRD is the name of the StorageSnapshot CRD.
	snapshotCRD = "storagesnapshots.storage.piraeus.io"
	// propSnapshotPoolPrefix+node records, in a StorageSnapshot's
	// properties, the storage pool its snapshot is in on that node (the
	// pool of the volume's replica when it was taken), so the snapshot can
	// be kept, restored and deleted without the volume.
	propSnapshotPoolPrefix = "Internal/StoragePool/"
	// CloneOfLabel marks the transient StorageSnapshot a clone is made
	// from, with the name of the cloning StorageVolume.
	CloneOfLabel = "storage.piraeus.io/clone-of"
	// snapshotRetry is how soon a snapshot not yet taken everywhere is looked at again.
	snapshotRetry         = 2 * time.Second
	reasonSnapshotReady   = "SnapshotReady"
	reasonSnapshotDeleted = "SnapshotDeleted"
	reasonSnapshotWaiting = "SnapshotDeletionWaiting"
)

// snapshotEvent queues a StorageSnapshot and the nodes that hold it.
func (c *Controller) snapshotEvent(obj any) {
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	s, ok := obj.(*storagev1alpha1.StorageSnapshot)
	if !ok {
		return
	}
	c.snapshots.Add(s.Name)
	for _, n := range snapshotNodes(s) {
		c.nodes.Add(n)
	}
	for _, v := range c.restoresOf(context.Background(), s) {
		c.volumes.Add(v.Name)
	}
}

// snapshotNodes are the nodes of a snapshot's spec and status.
func snapshotNodes(s *storagev1alpha1.StorageSnapshot) []string {
	out := slices.Clone(s.Spec.Nodes)
	for _, n := range s.Status.Nodes {
		if !slices.Contains(out, n.Node) {
			out = append(out, n.Node)
		}
	}
	slices.Sort(out)
	return out
}

// reconcileSnapshot converges one StorageSnapshot: finalizer, its nodes
// and volumes recorded in the spec, status from the agents, deletion.
func (c *Controller) reconcileSnapshot(ctx context.Context, name string) (time.Duration, error) {
	s := &storagev1alpha1.StorageSnapshot{}
	if err := c.client.Get(ctx, types.NamespacedName{Name: name}, s); err != nil {
		if apierrors.IsNotFound(err) {
			return 0, nil
		}
		return 0, err
	}
	if s.DeletionTimestamp != nil {
		return c.finalizeSnapshot(ctx, s)
	}
	if !controllerutil.ContainsFinalizer(s, storagev1alpha1.StorageSnapshotFinalizer) {
		controllerutil.AddFinalizer(s, storagev1alpha1.StorageSnapshotFinalizer)
		return 0, c.client.Update(ctx, s)
	}
	written, why, err := c.completeSnapshotSpec(ctx, s)
	if err != nil || written {
		return 0, err
	}
	st := SnapshotStatus(s, c.reportsCopy(), why, time.Now())
	if !equality.Semantic.DeepEqual(st, s.Status) {
		upd := s.DeepCopy()
		upd.Status = st
		if err := c.client.Status().Update(ctx, upd); err != nil {
			return 0, fmt.Errorf("write status of snapshot %s: %w", s.Name, err)
		}
		if st.ReadyToUse && !s.Status.ReadyToUse {
			c.recorder.Eventf(s, corev1.EventTypeNormal, reasonSnapshotReady, "snapshot taken on %v", s.Spec.Nodes)
		}
	}
	if !st.ReadyToUse {
		return snapshotRetry, nil
	}
	return 0, nil
}

// completeSnapshotSpec records what the snapshot is taken of, once: the
// volume's uid, its volume definitions, and its diskful replicas' nodes
// and pools. It returns why it cannot yet, or written when it wrote.
func (c *Controller) completeSnapshotSpec(ctx context.Context, s *storagev1alpha1.StorageSnapshot) (written bool, why string, err error) {
	if len(s.Spec.Nodes) > 0 && s.Spec.VolumeUID != "" && len(s.Spec.Volumes) > 0 && snapshotPoolsKnown(s) {
		return false, "", nil
	}
	v := &storagev1alpha1.StorageVolume{}
	if err := c.client.Get(ctx, types.NamespacedName{Name: s.Spec.Volume}, v); err != nil {
		if apierrors.IsNotFound(err) {
			return false, "volume " + s.Spec.Volume + " does not exist", nil
		}
		return false, "", err
	}
	switch {
	case s.Spec.VolumeUID != "" && s.Spec.VolumeUID != string(v.UID):
		return false, fmt.Sprintf("volume %s has uid %s, not %s (re-created)", v.Name, v.UID, s.Spec.VolumeUID), nil
	case v.DeletionTimestamp != nil:
		return false, "volume " + v.Name + " is being deleted", nil
	case len(v.Spec.Volumes) == 0:
		return false, "volume " + v.Name + " has no volume definitions", nil
	}
	upd := s.DeepCopy()
	upd.Spec.VolumeUID = string(v.UID)
	if len(upd.Spec.Volumes) == 0 {
		upd.Spec.Volumes = slices.Clone(v.Spec.Volumes)
	}
	if len(upd.Spec.Nodes) == 0 {
		for _, r := range v.Spec.Replicas {
			if !r.Diskless {
				upd.Spec.Nodes = append(upd.Spec.Nodes, r.Node)
			}
		}
	}
	if len(upd.Spec.Nodes) == 0 {
		return false, "volume " + v.Name + " has no diskful replica yet", nil
	}
	if upd.Spec.Properties == nil {
		upd.Spec.Properties = map[string]string{}
	}
	for _, n := range upd.Spec.Nodes {
		r := v.Spec.Replica(n)
		if r == nil || r.Diskless {
			return false, fmt.Sprintf("volume %s has no diskful replica on %s", v.Name, n), nil
		}
		upd.Spec.Properties[propSnapshotPoolPrefix+n] = r.StoragePool
	}
	if err := c.client.Update(ctx, upd); err != nil {
		return false, "", fmt.Errorf("record nodes of snapshot %s: %w", s.Name, err)
	}
	return true, "", nil
}

func snapshotPoolsKnown(s *storagev1alpha1.StorageSnapshot) bool {
	for _, n := range s.Spec.Nodes {
		if s.Spec.Properties[propSnapshotPoolPrefix+n] == "" {
			return false
		}
	}
	return true
}

// agentSnapshot finds a snapshot in a node's report, nil when absent.
func agentSnapshot(rep *NodeReport, s *storagev1alpha1.StorageSnapshot) *agentv1.SnapshotStatus {
	if rep == nil || rep.Status == nil {
		return nil
	}
	for _, ss := range rep.Status.GetSnapshots() {
		if ss.GetResource() == s.Spec.Volume && ss.GetName() == s.Spec.SnapshotName {
			return ss
		}
	}
	return nil
}

// SnapshotStatus computes a snapshot's status from the agents' reports:
// taken per node, readyToUse when taken on every node of the spec (and it
// stays so), creationTime when it first was, and the Ready condition. why,
// when set, is what keeps the spec from being complete.
func SnapshotStatus(s *storagev1alpha1.StorageSnapshot, reports map[string]*NodeReport, why string, now time.Time) storagev1alpha1.StorageSnapshotStatus {
	prev := s.Status
	out := storagev1alpha1.StorageSnapshotStatus{ObservedGeneration: s.Generation, Conditions: slices.Clone(prev.Conditions),
		ReadyToUse: prev.ReadyToUse, CreationTime: prev.CreationTime}
	taken := 0
	for _, n := range s.Spec.Nodes {
		ns := storagev1alpha1.SnapshotNodeStatus{Node: n}
		i := slices.IndexFunc(prev.Nodes, func(p storagev1alpha1.SnapshotNodeStatus) bool { return p.Node == n })
		rep := reports[n]
		switch {
		case rep == nil || !rep.Connected || rep.Status == nil:
			if i >= 0 {
				ns.Taken = prev.Nodes[i].Taken
			}
			ns.LastError = "agent of node " + n + " is not connected"
		default:
			if as := agentSnapshot(rep, s); as != nil && as.GetUid() == string(s.UID) {
				ns.Taken, ns.LastError = as.GetTaken(), as.GetError()
			}
		}
		if ns.Taken {
			taken++
		}
		out.Nodes = append(out.Nodes, ns)
	}
	slices.SortFunc(out.Nodes, func(a, b storagev1alpha1.SnapshotNodeStatus) int { return cmp.Compare(a.Node, b.Node) })
	ready := metav1.Condition{Type: storagev1alpha1.ConditionReady, Status: metav1.ConditionFalse, ObservedGeneration: s.Generation}
	switch {
	case why != "":
		ready.Reason, ready.Message = "Waiting", why
	case len(s.Spec.Nodes) > 0 && taken == len(s.Spec.Nodes):
		out.ReadyToUse = true
		ready.Status, ready.Reason, ready.Message = metav1.ConditionTrue, "Taken", fmt.Sprintf("taken on %d of %d nodes", taken, len(s.Spec.Nodes))
	default:
		var errs []string
		for _, ns := range out.Nodes {
			if ns.LastError != "" {
				errs = append(errs, ns.Node+": "+ns.LastError)
			}
		}
		ready.Reason = "Taking"
		ready.Message = fmt.Sprintf("taken on %d of %d nodes", taken, len(s.Spec.Nodes))
		if len(errs) > 0 {
			ready.Message += ": " + strings.Join(errs, "; ")
		}
	}
	if out.ReadyToUse {
		// Once taken everywhere, a snapshot stays usable; a node's later
		// trouble shows in its entry.
		ready.Status, ready.Reason = metav1.ConditionTrue, "Taken"
		if out.CreationTime == nil {
			t := metav1.NewTime(now.Truncate(time.Second))
			out.CreationTime = &t
		}
	}
	meta.SetStatusCondition(&out.Conditions, ready)
	return out
}

// desiredSnapshots are the snapshots a node must hold: every snapshot not
// being deleted whose spec names the node, taken while not yet taken there.
func desiredSnapshots(node string, snaps []*storagev1alpha1.StorageSnapshot) ([]*agentv1.Snapshot, map[string]error) {
	var out []*agentv1.Snapshot
	problems := map[string]error{}
	sorted := slices.Clone(snaps)
	slices.SortFunc(sorted, func(a, b *storagev1alpha1.StorageSnapshot) int { return cmp.Compare(a.Name, b.Name) })
	for _, s := range sorted {
		if s.DeletionTimestamp != nil || !slices.Contains(s.Spec.Nodes, node) || s.Spec.VolumeUID == "" || len(s.Spec.Volumes) == 0 {
			continue
		}
		pool := s.Spec.Properties[propSnapshotPoolPrefix+node]
		if pool == "" {
			problems[s.Name] = fmt.Errorf("snapshot %s: no storage pool recorded for node %s", s.Name, node)
			continue
		}
		as := &agentv1.Snapshot{Resource: s.Spec.Volume, ResourceUid: s.Spec.VolumeUID, Name: s.Spec.SnapshotName, Uid: string(s.UID), Take: !takenOn(s, node)}
		for _, vd := range s.Spec.Volumes {
			as.Volumes = append(as.Volumes, &agentv1.SnapshotVolume{Number: uint32(vd.Number), StoragePool: pool})
		}
		out = append(out, as)
	}
	return out, problems
}

// takenOn: the snapshot's status says it was taken on node.
func takenOn(s *storagev1alpha1.StorageSnapshot, node string) bool {
	i := slices.IndexFunc(s.Status.Nodes, func(n storagev1alpha1.SnapshotNodeStatus) bool { return n.Node == node })
	return i >= 0 && s.Status.Nodes[i].Taken
}

// restoreSource is the name of the StorageSnapshot a volume is created
// from: its source snapshot, or the transient snapshot of its clone source.
func restoreSource(v *storagev1alpha1.StorageVolume) string {
	switch {
	case v.Spec.Source == nil:
		return ""
	case v.Spec.Source.Snapshot != "":
		return v.Spec.Source.Snapshot
	case v.Spec.Source.Volume != "":
		return storagev1alpha1.SnapshotObjectName(v.Spec.Source.Volume, cloneSnapshotName(v))
	}
	return ""
}

// cloneSnapshotName is the snapshot name of a clone's transient snapshot.
func cloneSnapshotName(v *storagev1alpha1.StorageVolume) string { return "clone-" + string(v.UID) }

// listSnapshots lists (from the cache) all StorageSnapshots.
func (c *Controller) listSnapshots(ctx context.Context) ([]*storagev1alpha1.StorageSnapshot, error) {
	list := &storagev1alpha1.StorageSnapshotList{}
	if err := c.client.List(ctx, list); err != nil {
		return nil, fmt.Errorf("list snapshots: %w", err)
	}
	out := make([]*storagev1alpha1.StorageSnapshot, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out, nil
}

// snapshotsOfVolume are the snapshots taken of a volume (this uid, or not
// yet bound to one).
func (c *Controller) snapshotsOfVolume(ctx context.Context, v *storagev1alpha1.StorageVolume) ([]string, error) {
	all, err := c.listSnapshots(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range all {
		if s.Spec.Volume == v.Name && (s.Spec.VolumeUID == "" || s.Spec.VolumeUID == string(v.UID)) {
			out = append(out, s.Name)
		}
	}
	slices.Sort(out)
	return out, nil
}

// restoresOf are the volumes still being created from a snapshot.
func (c *Controller) restoresOf(ctx context.Context, s *storagev1alpha1.StorageSnapshot) []*storagev1alpha1.StorageVolume {
	list := &storagev1alpha1.StorageVolumeList{}
	if err := c.client.List(ctx, list); err != nil {
		return nil
	}
	var out []*storagev1alpha1.StorageVolume
	for i := range list.Items {
		v := &list.Items[i]
		if restoreSource(v) == s.Name && fresh(v) && v.DeletionTimestamp == nil {
			out = append(out, v)
		}
	}
	return out
}

// snapshotSources maps the names of the snapshots the given volumes are
// restored from to the objects (absent when not found).
func (c *Controller) snapshotSources(ctx context.Context, vols []*storagev1alpha1.StorageVolume) map[string]*storagev1alpha1.StorageSnapshot {
	out := map[string]*storagev1alpha1.StorageSnapshot{}
	for _, v := range vols {
		name := restoreSource(v)
		if name == "" || !fresh(v) {
			continue
		}
		s := &storagev1alpha1.StorageSnapshot{}
		if err := c.client.Get(ctx, types.NamespacedName{Name: name}, s); err == nil {
			out[name] = s
		}
	}
	return out
}

// finalizeSnapshot deletes a snapshot from its nodes (done by the node
// loops) once no volume is still being restored from it, then removes the
// finalizer.
func (c *Controller) finalizeSnapshot(ctx context.Context, s *storagev1alpha1.StorageSnapshot) (time.Duration, error) {
	if !controllerutil.ContainsFinalizer(s, storagev1alpha1.StorageSnapshotFinalizer) {
		return 0, nil
	}
	if users := c.restoresOf(ctx, s); len(users) > 0 {
		c.log.Info("snapshot deletion waits for restores", "snapshot", s.Name, "volume", users[0].Name)
		return deletionWaitingInterval, nil
	}
	if pending := c.pendingSnapshotDeletions(s); len(pending) > 0 {
		for _, n := range pending {
			c.nodes.Add(n)
		}
		return deletionWaitingInterval, nil
	}
	upd := s.DeepCopy()
	controllerutil.RemoveFinalizer(upd, storagev1alpha1.StorageSnapshotFinalizer)
	if err := c.client.Update(ctx, upd); err != nil {
		return 0, fmt.Errorf("remove finalizer of snapshot %s: %w", s.Name, err)
	}
	c.recorder.Eventf(s, corev1.EventTypeNormal, reasonSnapshotDeleted, "snapshot removed from %d node(s)", len(snapshotNodes(s)))
	c.log.Info("snapshot deleted", "snapshot", s.Name, "uid", s.UID)
	c.mu.Lock()
	delete(c.snapDeleted, s.UID)
	c.mu.Unlock()
	return 0, nil
}

// snapshotDeletionNodes are the nodes that may hold a deleted snapshot.
func (c *Controller) snapshotDeletionNodes(s *storagev1alpha1.StorageSnapshot) []string {
	nodes := snapshotNodes(s)
	for n, rep := range c.reportsCopy() {
		if as := agentSnapshot(rep, s); as != nil && as.GetUid() == string(s.UID) && !slices.Contains(nodes, n) {
			nodes = append(nodes, n)
		}
	}
	slices.Sort(nodes)
	return nodes
}

func (c *Controller) pendingSnapshotDeletions(s *storagev1alpha1.StorageSnapshot) []string {
	nodes := c.snapshotDeletionNodes(s)
	c.mu.Lock()
	defer c.mu.Unlock()
	done := c.snapDeleted[s.UID]
	return slices.DeleteFunc(nodes, func(n string) bool { return done[n] })
}

// removeSnapshots deletes, through the node's agent, the snapshots being
// deleted that the node may hold, after confirming each deletion past the cache.
func (c *Controller) removeSnapshots(ctx context.Context, agent agentv1.AgentClient, node string, pools []*agentv1.StoragePool, snaps []*storagev1alpha1.StorageSnapshot) {
	for _, s := range snaps {
		if s.DeletionTimestamp == nil || !slices.Contains(c.snapshotDeletionNodes(s), node) {
			continue
		}
		c.mu.Lock()
		done := c.snapDeleted[s.UID][node]
		c.mu.Unlock()
		if done || len(c.restoresOf(ctx, s)) > 0 {
			continue
		}
		if why, err := c.confirmSnapshotDeletion(ctx, s); err != nil || why != "" {
			c.log.Warn("snapshot deletion refused; data kept", "snapshot", s.Name, "node", node, "why", why, "err", err)
			continue
		}
		actx, cancel := context.WithTimeout(ctx, c.applyTimeout())
		res, err := agent.DeleteSnapshot(actx, &agentv1.DeleteSnapshotRequest{NodeName: node, Resource: s.Spec.Volume, Name: s.Spec.SnapshotName,
			Uid: string(s.UID), StoragePools: pools})
		cancel()
		if err != nil {
			c.log.Warn("snapshot not deleted", "snapshot", s.Name, "node", node, "err", err)
			continue
		}
		c.metrics.mutatingCommands.Add(float64(res.GetMutatingCommandsRun()))
		c.log.Info("snapshot deleted on node", "snapshot", s.Name, "uid", s.UID, "node", node, "actions", res.GetActions())
		c.mu.Lock()
		if c.snapDeleted[s.UID] == nil {
			c.snapDeleted[s.UID] = map[string]bool{}
		}
		c.snapDeleted[s.UID][node] = true
		c.mu.Unlock()
		c.snapshots.Add(s.Name)
	}
}

// confirmSnapshotDeletion reads past the cache that the snapshot is being
// deleted with this uid and that its CRD is not being deleted.
func (c *Controller) confirmSnapshotDeletion(ctx context.Context, s *storagev1alpha1.StorageSnapshot) (string, error) {
	live := &storagev1alpha1.StorageSnapshot{}
	if err := c.reader.Get(ctx, types.NamespacedName{Name: s.Name}, live); err != nil {
		if apierrors.IsNotFound(err) {
			return "the snapshot object is gone (finalizer removed by hand): its storage stays and shows as an orphan", nil
		}
		return "", err
	}
	switch {
	case live.UID != s.UID:
		return "re-created with another uid", nil
	case live.DeletionTimestamp == nil:
		return "not being deleted", nil
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := c.reader.Get(ctx, types.NamespacedName{Name: snapshotCRD}, crd); err != nil {
		return "", fmt.Errorf("read CRD %s: %w", snapshotCRD, err)
	}
	if crd.DeletionTimestamp != nil {
		return "the StorageSnapshot CRD is being deleted: snapshots are kept", nil
	}
	return "", nil
}

// changedSnapshots names the StorageSnapshots whose agent status differs
// between two reports.
func changedSnapshots(prev, cur *agentv1.NodeStatus, all bool) []string {
	return changedNames(prev.GetSnapshots(), cur.GetSnapshots(), func(s *agentv1.SnapshotStatus) string {
		return storagev1alpha1.SnapshotObjectName(s.GetResource(), s.GetName())
	}, all)
}

// placeFromSnapshot places a volume created from a snapshot on the nodes
// that hold the snapshot, each replica in the pool the snapshot is in
// there, as LINSTOR restores a snapshot on its nodes. A clone first gets
// its transient snapshot of the source volume.
func (c *Controller) placeFromSnapshot(ctx context.Context, v *storagev1alpha1.StorageVolume) (metav1.Condition, time.Duration, bool, error) {
	placed := metav1.Condition{Type: storagev1alpha1.ConditionPlaced, Status: metav1.ConditionFalse, Reason: "WaitingForSnapshot"}
	if v.Spec.Source.Volume != "" && v.Spec.Source.Snapshot == "" {
		if err := c.ensureCloneSnapshot(ctx, v); err != nil {
			placed.Message = err.Error()
			return placed, snapshotRetry, false, nil
		}
	}
	name := restoreSource(v)
	s := &storagev1alpha1.StorageSnapshot{}
	if err := c.client.Get(ctx, types.NamespacedName{Name: name}, s); err != nil {
		if !apierrors.IsNotFound(err) {
			return placed, 0, false, err
		}
		placed.Message = "snapshot " + name + " does not exist"
		return placed, snapshotRetry, false, nil
	}
	if !s.Status.ReadyToUse || s.DeletionTimestamp != nil {
		placed.Message = "snapshot " + name + " is not ready to use"
		return placed, snapshotRetry, false, nil
	}
	upd := v.DeepCopy()
	for _, n := range s.Spec.Nodes {
		if !takenOn(s, n) {
			continue
		}
		upd.Spec.Replicas = append(upd.Spec.Replicas, storagev1alpha1.Replica{Node: n, StoragePool: s.Spec.Properties[propSnapshotPoolPrefix+n],
			NodeID: int32(len(upd.Spec.Replicas)), Reason: "holds snapshot " + name})
	}
	if len(upd.Spec.Volumes) == 0 {
		upd.Spec.Volumes = slices.Clone(s.Spec.Volumes)
	}
	for _, vd := range upd.Spec.Volumes {
		i := slices.IndexFunc(s.Spec.Volumes, func(sv storagev1alpha1.VolumeDefinition) bool { return sv.Number == vd.Number })
		if i < 0 || vd.SizeBytes < s.Spec.Volumes[i].SizeBytes {
			placed.Reason, placed.Message = "InvalidSource", fmt.Sprintf("volume %d is not in snapshot %s or smaller than it", vd.Number, name)
			return placed, 0, false, nil
		}
	}
	if err := c.client.Update(ctx, upd); err != nil {
		return placed, 0, false, fmt.Errorf("place %s from snapshot %s: %w", v.Name, name, err)
	}
	c.recorder.Eventf(v, corev1.EventTypeNormal, reasonPlaced, "placed on the %d node(s) holding snapshot %s", len(upd.Spec.Replicas), name)
	return placed, 0, true, nil
}

// ensureCloneSnapshot creates the transient snapshot of a clone's source.
func (c *Controller) ensureCloneSnapshot(ctx context.Context, v *storagev1alpha1.StorageVolume) error {
	name := restoreSource(v)
	s := &storagev1alpha1.StorageSnapshot{}
	if err := c.client.Get(ctx, types.NamespacedName{Name: name}, s); err == nil {
		return nil
	} else if !apierrors.IsNotFound(err) {
		return err
	}
	src := &storagev1alpha1.StorageVolume{}
	if err := c.client.Get(ctx, types.NamespacedName{Name: v.Spec.Source.Volume}, src); err != nil {
		return fmt.Errorf("source volume %s: %w", v.Spec.Source.Volume, err)
	}
	s = &storagev1alpha1.StorageSnapshot{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{CloneOfLabel: v.Name}},
		Spec:       storagev1alpha1.StorageSnapshotSpec{Volume: src.Name, VolumeUID: string(src.UID), SnapshotName: cloneSnapshotName(v)},
	}
	if err := c.client.Create(ctx, s); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create transient snapshot %s: %w", name, err)
	}
	return nil
}

// dropCloneSnapshot deletes a clone's transient snapshot once the clone no
// longer needs it (Ready once, or being deleted).
func (c *Controller) dropCloneSnapshot(ctx context.Context, v *storagev1alpha1.StorageVolume) error {
	if v.Spec.Source == nil || v.Spec.Source.Volume == "" || v.Spec.Source.Snapshot != "" || (fresh(v) && v.DeletionTimestamp == nil) {
		return nil
	}
	s := &storagev1alpha1.StorageSnapshot{}
	if err := c.client.Get(ctx, types.NamespacedName{Name: restoreSource(v)}, s); err != nil {
		return client0(err)
	}
	if s.DeletionTimestamp != nil || s.Labels[CloneOfLabel] != v.Name {
		return nil
	}
	if err := c.client.Delete(ctx, s); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete transient snapshot %s: %w", s.Name, err)
	}
	c.log.Info("transient clone snapshot dropped", "volume", v.Name, "snapshot", s.Name)
	return nil
}

// client0 is nil for a not-found error.
func client0(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
