package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	"github.com/piraeusctl/piraeusctl/plan/placement"
)

// placementBatchWindow gathers volumes created together into one placement.
const placementBatchWindow = 20 * time.Millisecond

// placer places volumes without replicas, in batches, with the autoplacer
// `piraeusctl plan` uses: every placed volume counts for capacity and
// balance, so the online choice is the one the plan would make.
type placer struct {
	c       *Controller
	mu      sync.Mutex
	pending map[string]bool
	wake    chan struct{}
}

func newPlacer(c *Controller) *placer {
	return &placer{c: c, pending: map[string]bool{}, wake: make(chan struct{}, 1)}
}

// add asks for a volume to be placed.
func (p *placer) add(name string) {
	p.mu.Lock()
	p.pending[name] = true
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// run places pending volumes until ctx ends.
func (p *placer) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		}
		time.Sleep(placementBatchWindow)
		p.mu.Lock()
		names := make([]string, 0, len(p.pending))
		for n := range p.pending {
			names = append(names, n)
		}
		p.pending = map[string]bool{}
		p.mu.Unlock()
		slices.Sort(names)
		if err := p.placeBatch(ctx, names); err != nil && ctx.Err() == nil {
			p.c.log.Warn("placement failed", "volumes", len(names), "err", err)
			for _, n := range names {
				p.c.volumes.AddAfter(n, placementRetry)
			}
		}
	}
}

// placeBatch places the named volumes (those still without replicas),
// reserves their numbers and records both in their specs.
func (p *placer) placeBatch(ctx context.Context, names []string) error {
	c := p.c
	topo, err := c.topology(ctx)
	if err != nil || topo == nil {
		return cmpErr(err, errors.New("no StorageTopology"))
	}
	list := &storagev1alpha1.StorageVolumeList{}
	if err := c.client.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return fmt.Errorf("list volumes: %w", err)
	}
	spec, vols := c.placementInput(topo, list.Items)
	res, err := placement.Place(spec, vols, nil, placement.Options{AllowUnplaced: true, NoNumbers: true})
	if res == nil {
		return fmt.Errorf("place: %w", err)
	}
	chosen := map[string]storagev1alpha1.StorageVolume{}
	for _, v := range res.Volumes {
		chosen[v.Name] = v
	}
	failed := map[string]string{}
	for _, u := range res.Unplaced {
		failed[u.Volume] = u.String()
	}
	var todo []*storagev1alpha1.StorageVolume
	var needs []Need
	for _, name := range names {
		v := &storagev1alpha1.StorageVolume{}
		if err := c.client.Get(ctx, types.NamespacedName{Name: name}, v); err != nil || v.DeletionTimestamp != nil || len(v.Spec.Replicas) > 0 || len(v.Spec.Volumes) == 0 || v.Spec.ManualPlacement {
			continue
		}
		if why, bad := failed[name]; bad {
			p.fail(name, why)
			continue
		}
		if _, ok := chosen[name]; !ok {
			p.fail(name, fmt.Sprintf("resource group %q is not in the StorageTopology", v.Spec.ResourceGroup))
			continue
		}
		v.Spec.Replicas = placedReplicas(chosen[name].Spec.Replicas)
		drbdLayer, err := usesDRBD(v, topo)
		if err != nil {
			p.fail(name, err.Error())
			continue
		}
		todo = append(todo, v)
		needs = append(needs, allocationNeeds(v, drbdLayer)...)
	}
	grants, err := c.ledger.Reserve(ctx, topo.Spec.Allocation, needs)
	if err != nil {
		// Some nodes could not give numbers (range exhausted): those volumes
		// fail; the others go on with what they got.
		c.log.Warn("allocation failed", "err", err)
	}
	for _, v := range todo {
		p.record(ctx, v, grants[v.Name], err)
	}
	return nil
}

// record writes a placed volume's replicas with their numbers.
func (p *placer) record(ctx context.Context, v *storagev1alpha1.StorageVolume, grants map[string]Grant, allocErr error) {
	c := p.c
	for i := range v.Spec.Replicas {
		r := &v.Spec.Replicas[i]
		g, ok := grants[r.Node]
		switch {
		case ok:
			r.Port, r.Minors = g.Port, g.Minors
		case allocErr != nil:
			if drbd, _ := usesDRBD(v, mustTopology(c)); drbd {
				p.fail(v.Name, allocErr.Error())
				return
			}
		}
	}
	err := c.client.Update(ctx, v)
	switch {
	case err == nil:
		c.mu.Lock()
		delete(c.unplaced, v.Name)
		c.mu.Unlock()
		c.log.Info("volume placed", "volume", v.Name, "replicas", len(v.Spec.Replicas))
	case apierrors.IsConflict(err):
		// Changed meanwhile (perhaps placed by another controller): look
		// again. Numbers reserved here and not recorded are released by
		// the ledger repair after the grace period.
		c.volumes.Add(v.Name)
	default:
		c.log.Warn("record placement", "volume", v.Name, "err", err)
		c.volumes.AddAfter(v.Name, placementRetry)
	}
}

// fail records why a volume could not be placed and queues it.
func (p *placer) fail(name, why string) {
	p.c.mu.Lock()
	p.c.unplaced[name] = why
	p.c.mu.Unlock()
	p.c.volumes.Add(name)
}

// placedReplicas keeps what the spec records of placement's replicas.
func placedReplicas(in []storagev1alpha1.Replica) []storagev1alpha1.Replica {
	out := make([]storagev1alpha1.Replica, len(in))
	for i, r := range in {
		out[i] = storagev1alpha1.Replica{Node: r.Node, StoragePool: r.StoragePool, Diskless: r.Diskless, TieBreaker: r.TieBreaker, NodeID: r.NodeID}
	}
	return out
}

// placementInput is the topology with the pools' live capacity where
// agents reported it, and every volume whose resource group it knows (a
// volume of an unknown group is reported by its own reconcile and must not
// stop the others).
func (c *Controller) placementInput(topo *storagev1alpha1.StorageTopology, vols []storagev1alpha1.StorageVolume) (*storagev1alpha1.StorageTopologySpec, []storagev1alpha1.StorageVolume) {
	spec := topo.Spec.DeepCopy()
	reports := c.reportsCopy()
	for i := range spec.Nodes {
		n := &spec.Nodes[i]
		rep := reports[n.Name]
		if rep == nil || rep.Status == nil {
			continue
		}
		for j := range n.StoragePools {
			for _, ps := range rep.Status.GetPools() {
				if ps.GetName() == n.StoragePools[j].Name && ps.GetError() == "" && ps.GetCapacityKib() > 0 {
					capacity := int64(ps.GetCapacityKib()) * 1024
					n.StoragePools[j].CapacityBytes = &capacity
				}
			}
		}
	}
	groups := map[string]bool{}
	for _, g := range spec.ResourceGroups {
		groups[g.Name] = true
	}
	out := make([]storagev1alpha1.StorageVolume, 0, len(vols))
	for i := range vols {
		if groups[vols[i].Spec.ResourceGroup] {
			out = append(out, vols[i])
		}
	}
	return spec, out
}

func cmpErr(err, fallback error) error {
	if err != nil {
		return err
	}
	return fallback
}

// mustTopology is the cached topology, empty when unknown.
func mustTopology(c *Controller) *storagev1alpha1.StorageTopology {
	t, err := c.topology(c.ctx)
	if err != nil || t == nil {
		return &storagev1alpha1.StorageTopology{}
	}
	return t
}
