package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
)

// volumeCRD is the name of the StorageVolume CRD.
const volumeCRD = "storagevolumes.storage.piraeus.io"

// finalizeVolume deletes a volume's storage from every node that may hold
// it (done by the node loops, which own their agents), then releases its
// numbers and removes the finalizer.
func (c *Controller) finalizeVolume(ctx context.Context, v *storagev1alpha1.StorageVolume) (time.Duration, error) {
	if !controllerutil.ContainsFinalizer(v, storagev1alpha1.StorageVolumeFinalizer) {
		return 0, nil
	}
	if err := c.dropCloneSnapshot(ctx, v); err != nil {
		return 0, err
	}
	pending := c.pendingDeletions(v)
	if len(pending) > 0 {
		for _, n := range pending {
			c.nodes.Add(n)
		}
		return deletionWaitingInterval, nil
	}
	if err := c.ledger.Release(ctx, string(v.UID), c.allocationNodes(ctx, v)); err != nil {
		return 0, err
	}
	upd := v.DeepCopy()
	controllerutil.RemoveFinalizer(upd, storagev1alpha1.StorageVolumeFinalizer)
	if err := c.client.Update(ctx, upd); err != nil {
		return 0, fmt.Errorf("remove finalizer of %s: %w", v.Name, err)
	}
	c.recorder.Eventf(v, corev1.EventTypeNormal, reasonDeleted, "storage removed from %d node(s)", len(volumeNodes(v)))
	c.log.Info("volume deleted", "volume", v.Name, "uid", v.UID)
	c.mu.Lock()
	c.finalized[v.Name] = v.UID
	c.mu.Unlock()
	return 0, nil
}

// deletionNodes are the nodes that may hold a deleted volume: its spec and
// status replicas, and any node whose agent reports it.
func (c *Controller) deletionNodes(v *storagev1alpha1.StorageVolume) []string {
	nodes := volumeNodes(v)
	for n, rep := range c.reportsCopy() {
		if holds(rep, v) && !slices.Contains(nodes, n) {
			nodes = append(nodes, n)
		}
	}
	slices.Sort(nodes)
	return nodes
}

// pendingDeletions are the deletion nodes not done yet.
func (c *Controller) pendingDeletions(v *storagev1alpha1.StorageVolume) []string {
	nodes := c.deletionNodes(v)
	c.mu.Lock()
	defer c.mu.Unlock()
	done := c.deleted[v.UID]
	return slices.DeleteFunc(nodes, func(n string) bool { return done[n] })
}

// allocationNodes are all nodes whose ledger may hold the volume's numbers.
func (c *Controller) allocationNodes(ctx context.Context, v *storagev1alpha1.StorageVolume) []string {
	nodes := volumeNodes(v)
	list := &storagev1alpha1.NodeAllocationList{}
	if err := c.client.List(ctx, list); err == nil {
		for _, na := range list.Items {
			if !slices.Contains(nodes, na.Name) {
				nodes = append(nodes, na.Name)
			}
		}
	}
	return nodes
}

// markDeleted records that node no longer holds the volume.
func (c *Controller) markDeleted(uid types.UID, node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.deleted[uid] == nil {
		c.deleted[uid] = map[string]bool{}
	}
	c.deleted[uid][node] = true
}

// confirmDeletion reads past the cache that the volume really is being
// deleted, with this uid, and that its CRD is not being deleted (a CRD
// deletion marks every object for deletion: that is not a user deleting a
// volume, and the data must stay). It returns why not, "" when confirmed.
func (c *Controller) confirmDeletion(ctx context.Context, v *storagev1alpha1.StorageVolume) (string, error) {
	live := &storagev1alpha1.StorageVolume{}
	if err := c.reader.Get(ctx, types.NamespacedName{Name: v.Name}, live); err != nil {
		if apierrors.IsNotFound(err) {
			return "the volume object is gone (finalizer removed by hand): its storage stays and shows as an orphan", nil
		}
		return "", fmt.Errorf("confirm deletion of %s: %w", v.Name, err)
	}
	switch {
	case live.UID != v.UID:
		return fmt.Sprintf("uid changed from %s to %s (re-created)", v.UID, live.UID), nil
	case live.DeletionTimestamp == nil:
		return "not being deleted", nil
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := c.reader.Get(ctx, types.NamespacedName{Name: volumeCRD}, crd); err != nil {
		return "", fmt.Errorf("confirm deletion of %s: read CRD: %w", v.Name, err)
	}
	if crd.DeletionTimestamp != nil {
		return "the StorageVolume CRD is being deleted: storage is kept; remove the finalizers by hand to let the CRD go (the data stays as orphans)", nil
	}
	snaps, err := c.snapshotsOfVolume(ctx, v)
	if err != nil {
		return "", err
	}
	if len(snaps) > 0 {
		return fmt.Sprintf("snapshots %s depend on it: storage is kept until they are deleted (LINSTOR refuses to delete a resource definition with snapshots)",
			strings.Join(snaps, ", ")), nil
	}
	return "", nil
}

// deleteOnNode deletes a volume's replica on one node through its agent,
// after confirming the deletion; it reports a problem instead of deleting
// when the deletion cannot be confirmed.
func (c *Controller) deleteOnNode(ctx context.Context, agent agentv1.AgentClient, node string, pools []*agentv1.StoragePool, v *storagev1alpha1.StorageVolume, confirm bool) error {
	if confirm {
		why, err := c.confirmDeletion(ctx, v)
		if err != nil {
			return err
		}
		if why != "" {
			c.refuseDeletion(v, why)
			return fmt.Errorf("deletion of %s refused: %s", v.Name, why)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, c.applyTimeout())
	defer cancel()
	res, err := agent.DeleteResource(ctx, &agentv1.DeleteResourceRequest{NodeName: node, Name: v.Name, Uid: string(v.UID), StoragePools: pools})
	if err != nil {
		return fmt.Errorf("delete %s on %s: %w", v.Name, node, err)
	}
	c.metrics.mutatingCommands.Add(float64(res.GetMutatingCommandsRun()))
	c.log.Info("replica deleted", "volume", v.Name, "uid", v.UID, "node", node, "actions", res.GetActions())
	c.markDeleted(v.UID, node)
	c.volumes.Add(v.Name)
	return nil
}

// refuseDeletion logs and records (once per volume) a refused deletion.
func (c *Controller) refuseDeletion(v *storagev1alpha1.StorageVolume, why string) {
	c.mu.Lock()
	first := !c.refusedCRD[v.UID]
	c.refusedCRD[v.UID] = true
	c.mu.Unlock()
	c.log.Warn("storage deletion refused; data kept", "volume", v.Name, "uid", v.UID, "why", why)
	if first {
		c.recorder.Event(v, corev1.EventTypeWarning, reasonDeleteRefused, why)
	}
}

func (c *Controller) applyTimeout() time.Duration {
	if c.opts.ApplyTimeout <= 0 {
		return DefaultApplyTimeout
	}
	return c.opts.ApplyTimeout
}
