package controller

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	"github.com/piraeusctl/piraeusctl/plan"
)

// topology returns the cached StorageTopology, nil when there is none.
func (c *Controller) topology(ctx context.Context) (*storagev1alpha1.StorageTopology, error) {
	t := &storagev1alpha1.StorageTopology{}
	err := c.client.Get(ctx, types.NamespacedName{Name: plan.TopologyName}, t)
	switch {
	case err == nil:
		return t, nil
	case apierrors.IsNotFound(err):
		return nil, nil
	default:
		return nil, fmt.Errorf("read StorageTopology: %w", err)
	}
}

// topologyUpdated reacts to spec changes only (status is ours).
func (c *Controller) topologyUpdated(old, obj any) {
	o, ok1 := old.(*storagev1alpha1.StorageTopology)
	n, ok2 := obj.(*storagev1alpha1.StorageTopology)
	if ok1 && ok2 && o.Generation == n.Generation {
		return
	}
	c.topologyChanged()
}

// topologyChanged re-evaluates every node and volume.
func (c *Controller) topologyChanged() {
	c.mu.Lock()
	c.topoDirty = true
	c.mu.Unlock()
	c.resyncAll(c.ctx)
}

// resyncAll queues every node of the topology (and every node with a
// session) and every volume.
func (c *Controller) resyncAll(ctx context.Context) {
	if ctx == nil {
		return
	}
	if topo, err := c.topology(ctx); err == nil && topo != nil {
		for _, n := range topo.Spec.Nodes {
			c.nodes.Add(n.Name)
		}
	}
	c.mu.Lock()
	for n := range c.sessions {
		c.nodes.Add(n)
	}
	c.mu.Unlock()
	list := &storagev1alpha1.StorageVolumeList{}
	if err := c.client.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		c.log.Warn("resync: list volumes", "err", err)
		return
	}
	for i := range list.Items {
		c.volumes.Add(list.Items[i].Name)
		for _, n := range volumeNodes(&list.Items[i]) {
			c.nodes.Add(n)
		}
	}
	c.countVolumes(list.Items)
	if snaps, err := c.listSnapshots(ctx); err == nil {
		for _, s := range snaps {
			c.snapshots.Add(s.Name)
		}
	}
}

// countVolumes refreshes the volumes-by-state gauge.
func (c *Controller) countVolumes(vols []storagev1alpha1.StorageVolume) {
	counts := map[string]float64{"ready": 0, "degraded": 0, "pending": 0, "deleting": 0}
	for i := range vols {
		counts[volumeState(&vols[i])]++
	}
	for s, n := range counts {
		c.metrics.volumes.WithLabelValues(s).Set(n)
	}
}

func volumeState(v *storagev1alpha1.StorageVolume) string {
	switch {
	case v.DeletionTimestamp != nil:
		return "deleting"
	case meta.IsStatusConditionTrue(v.Status.Conditions, storagev1alpha1.ConditionDegraded):
		return "degraded"
	case meta.IsStatusConditionTrue(v.Status.Conditions, storagev1alpha1.ConditionReady):
		return "ready"
	}
	return "pending"
}

// writeTopologyStatus writes the nodes' observed state into the
// StorageTopology status when it changed.
func (c *Controller) writeTopologyStatus(ctx context.Context) {
	c.mu.Lock()
	dirty := c.topoDirty
	c.topoDirty = false
	c.mu.Unlock()
	if !dirty {
		return
	}
	topo, err := c.topology(ctx)
	if err != nil || topo == nil {
		return
	}
	st := c.topologyStatus(topo)
	if equality.Semantic.DeepEqual(st, topo.Status) {
		return
	}
	upd := topo.DeepCopy()
	upd.Status = st
	if err := c.client.Status().Update(ctx, upd); err != nil {
		c.log.Warn("write StorageTopology status", "err", err)
		c.mu.Lock()
		c.topoDirty = true
		c.mu.Unlock()
	}
}

// topologyStatus is the topology's status from the agents' reports.
func (c *Controller) topologyStatus(topo *storagev1alpha1.StorageTopology) storagev1alpha1.StorageTopologyStatus {
	out := *topo.Status.DeepCopy()
	// The generation the controller runs with (the operator's LinstorCluster
	// Configured condition reads it).
	out.ObservedGeneration = topo.Generation
	out.Nodes = nil
	reports := c.reportsCopy()
	connected, orphans := 0, 0
	names := make([]string, 0, len(topo.Spec.Nodes))
	for _, n := range topo.Spec.Nodes {
		names = append(names, n.Name)
	}
	for n := range reports {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		ns := nodeStatus(name, reports[name])
		if ns.Connected {
			connected++
		}
		orphans += len(ns.Orphans)
		out.Nodes = append(out.Nodes, ns)
	}
	c.metrics.agentsConnected.Set(float64(connected))
	c.metrics.orphans.Set(float64(orphans))
	if len(out.Nodes) == 0 {
		out.Nodes = nil
	}
	return out
}

// nodeStatus is one node's entry in the topology status.
func nodeStatus(name string, rep *NodeReport) storagev1alpha1.NodeStatus {
	ns := storagev1alpha1.NodeStatus{Name: name}
	if rep == nil {
		ns.Errors = []string{"no agent session yet"}
		return ns
	}
	ns.Connected = rep.Connected
	if rep.Error != "" {
		ns.Errors = append(ns.Errors, rep.Error)
	}
	st := rep.Status
	if st == nil {
		return ns
	}
	ns.Errors = append(ns.Errors, st.GetErrors()...)
	for _, p := range st.GetPools() {
		ns.Pools = append(ns.Pools, storagev1alpha1.PoolStatus{
			Name: p.GetName(), CapacityBytes: int64(p.GetCapacityKib()) * 1024, FreeBytes: int64(p.GetFreeKib()) * 1024, Error: p.GetError(),
		})
	}
	slices.SortFunc(ns.Pools, func(a, b storagev1alpha1.PoolStatus) int { return cmp.Compare(a.Name, b.Name) })
	for _, o := range st.GetOrphans() {
		ns.Orphans = append(ns.Orphans, fmt.Sprintf("%s %s (%s)", o.GetKind(), o.GetResource(), o.GetObject()))
	}
	slices.Sort(ns.Orphans)
	ns.Orphans = slices.Compact(ns.Orphans)
	ns.Replicas = int32(len(st.GetResources()))
	return ns
}

// repairLedgers releases reservations no volume recorded within the grace
// period: left by a controller that stopped between reserving and recording,
// or by a volume whose replica moved away and was deleted.
func (c *Controller) repairLedgers(ctx context.Context) {
	list := &storagev1alpha1.NodeAllocationList{}
	if err := c.client.List(ctx, list); err != nil {
		return
	}
	now := time.Now()
	for _, na := range list.Items {
		node := na.Name
		keep := func(e storagev1alpha1.AllocationEntry, port bool) bool {
			if e.Since != nil && now.Sub(e.Since.Time) < c.opts.ReservationGrace {
				return true
			}
			return c.recorded(ctx, node, e, port)
		}
		if err := c.ledger.Prune(ctx, node, keep); err != nil {
			c.log.Warn("ledger repair", "node", node, "err", err)
		}
	}
}

// recorded reports whether a ledger entry is still in use: its volume (same
// uid, read past the cache when the cache does not have it) records the
// number on that node, or still holds a replica there.
func (c *Controller) recorded(ctx context.Context, node string, e storagev1alpha1.AllocationEntry, port bool) bool {
	v := &storagev1alpha1.StorageVolume{}
	err := c.client.Get(ctx, types.NamespacedName{Name: e.Volume}, v)
	if apierrors.IsNotFound(err) {
		err = c.reader.Get(ctx, types.NamespacedName{Name: e.Volume}, v)
	}
	switch {
	case apierrors.IsNotFound(err):
		return false
	case err != nil:
		return true // cannot tell: keep
	case string(v.UID) != e.UID:
		return false
	}
	if r := v.Spec.Replica(node); r != nil {
		if port {
			return r.Port == e.Number || r.Port == 0
		}
		return slices.Contains(r.Minors, e.Number) || len(r.Minors) < len(v.Spec.Volumes)
	}
	for _, r := range v.Status.Replicas {
		if r.Node == node && r.Deployed {
			return true
		}
	}
	return v.DeletionTimestamp != nil
}
