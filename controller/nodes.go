package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"time"

	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
)

const (
	// pendingRetry is how soon a node with pending resources is told again.
	pendingRetry = 2 * time.Second
	// unreachableRetry is how soon an unreachable node is tried again.
	unreachableRetry = 5 * time.Second
)

// reconcileNode tells one node's agent its complete desired state when it
// changed, after a reconnect or at resync, then deletes the replicas that
// must leave the node.
func (c *Controller) reconcileNode(ctx context.Context, node string) (time.Duration, error) {
	topo, err := c.topology(ctx)
	if err != nil {
		return 0, err
	}
	vols, err := c.volumesOn(ctx, node)
	if err != nil {
		return 0, err
	}
	var spec *storagev1alpha1.StorageTopologySpec
	if topo != nil {
		spec = &topo.Spec
	}
	if spec.Node(node) == nil && len(vols) == 0 {
		c.dropSession(node)
		return 0, nil
	}
	sess, err := c.ensureSession(ctx, node, spec)
	if err != nil {
		c.setNodeError(node, err.Error())
		return unreachableRetry, nil
	}
	agent, gen := sess.Client()
	if agent == nil || !c.connected(node) {
		c.log.Debug("node not reachable yet", "node", node, "client", agent != nil)
		return unreachableRetry, nil
	}
	snaps, err := c.listSnapshots(ctx)
	if err != nil {
		return 0, err
	}
	dep := deployable(vols, node, orEmpty(spec))
	desired, problems := Desired(node, DesiredInput{Topology: orEmpty(spec), Volumes: dep, Fresh: fresh,
		Snapshots: snaps, Sources: c.snapshotSources(ctx, dep)})
	pending, err := c.applyIfNeeded(ctx, agent, gen, desired, problems)
	if err != nil {
		c.log.Warn("node not converged", "node", node, "err", err)
		c.setNodeError(node, err.Error())
		return unreachableRetry, nil
	}
	c.removeReplicas(ctx, agent, node, desired.GetStoragePools(), vols)
	c.removeSnapshots(ctx, agent, node, desired.GetStoragePools(), snaps)
	if pending {
		return pendingRetry, nil
	}
	return c.resync(), nil
}

func orEmpty(s *storagev1alpha1.StorageTopologySpec) *storagev1alpha1.StorageTopologySpec {
	if s == nil {
		return &storagev1alpha1.StorageTopologySpec{}
	}
	return s
}

// deployable are the volumes the node should hold now: with the node in
// the spec, not being deleted, and placed: with their DRBD numbers recorded
// in the ledgers (the Placed condition), or without DRBD, whose spec is all
// a replica needs (it is told at once, not after the Placed status write).
func deployable(vols []*storagev1alpha1.StorageVolume, node string, topo *storagev1alpha1.StorageTopologySpec) []*storagev1alpha1.StorageVolume {
	out := make([]*storagev1alpha1.StorageVolume, 0, len(vols))
	for _, v := range vols {
		if v.DeletionTimestamp != nil || v.Spec.Replica(node) == nil {
			continue
		}
		if !meta.IsStatusConditionTrue(v.Status.Conditions, storagev1alpha1.ConditionPlaced) && !storageOnly(v, topo) {
			continue
		}
		out = append(out, v)
	}
	return out
}

// storageOnly reports whether a volume's layers are known and have no DRBD:
// it needs no allocation, so nothing but its spec decides its replicas.
func storageOnly(v *storagev1alpha1.StorageVolume, topo *storagev1alpha1.StorageTopologySpec) bool {
	if len(v.Spec.Volumes) == 0 {
		return false
	}
	layers, err := layerList(v, resourceGroup(topo, v.Spec.ResourceGroup))
	return err == nil && !slices.Contains(layers, agentv1.Layer_DRBD)
}

// applyIfNeeded calls Apply unless the node was told exactly this state on
// the current stream (and that call left nothing pending) within the resync
// period. It records the per-resource problems and reports whether some
// resource is still pending.
func (c *Controller) applyIfNeeded(ctx context.Context, agent agentv1.AgentClient, gen uint64, desired *agentv1.NodeDesiredState, problems map[string]error) (bool, error) {
	node := desired.GetNodeName()
	digest := digestOf(desired)
	c.mu.Lock()
	last := c.applied[node]
	c.mu.Unlock()
	if last.digest == digest && last.generation == gen && !last.pending && time.Since(last.at) < c.resync() {
		c.log.Debug("node unchanged; not told", "node", node)
		c.setProblems(node, problems, nil)
		return false, nil
	}
	c.log.Debug("telling node", "node", node, "resources", len(desired.GetResources()), "wasPending", last.pending)
	actx, cancel := context.WithTimeout(ctx, c.applyTimeout())
	defer cancel()
	res, err := agent.Apply(actx, desired)
	if err != nil {
		c.metrics.applies.WithLabelValues("error").Inc()
		c.mu.Lock()
		delete(c.applied, node)
		c.mu.Unlock()
		return false, fmt.Errorf("apply desired state to %s: %w", node, err)
	}
	c.metrics.applies.WithLabelValues("ok").Inc()
	c.metrics.mutatingCommands.Add(float64(res.GetMutatingCommandsRun()))
	pending := false
	for _, r := range res.GetResources() {
		if r.GetOutcome() == agentv1.Outcome_PENDING || r.GetOutcome() == agentv1.Outcome_FAILED {
			pending = true
		}
	}
	for _, s := range res.GetSnapshots() {
		if s.GetOutcome() == agentv1.Outcome_FAILED {
			pending = true
		}
	}
	c.mu.Lock()
	c.applied[node] = appliedState{digest: digest, generation: gen, at: time.Now(), pending: pending}
	c.mu.Unlock()
	c.setProblems(node, problems, res)
	c.log.Debug("node told", "node", node, "pending", pending, "mutating", res.GetMutatingCommandsRun())
	if res.GetMutatingCommandsRun() > 0 {
		c.log.Info("node converged", "node", node, "resources", len(desired.GetResources()), "mutating", res.GetMutatingCommandsRun(), "pending", pending)
	}
	return pending, nil
}

// digestOf hashes a desired state (deterministic protobuf encoding).
func digestOf(d *agentv1.NodeDesiredState) string {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(d)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// setProblems records the node's per-resource problems and queues the
// volumes whose problem changed.
func (c *Controller) setProblems(node string, problems map[string]error, res *agentv1.ApplyResult) {
	next := map[string]string{}
	for name, err := range problems {
		next[name] = err.Error()
	}
	// Only failures are problems: a pending resource (waiting for peers to
	// connect, for a resync) is told again shortly, and its status shows
	// what it waits for.
	for _, r := range res.GetResources() {
		if r.GetOutcome() == agentv1.Outcome_FAILED {
			next[r.GetName()] = r.GetMessage()
		}
	}
	c.mu.Lock()
	rep := c.report(node)
	prev := rep.Problems
	rep.Problems = next
	rep.Error = ""
	c.mu.Unlock()
	for name, msg := range next {
		if prev[name] != msg {
			c.volumes.Add(name)
		}
	}
	for name := range prev {
		if _, ok := next[name]; !ok {
			c.volumes.Add(name)
		}
	}
}

// removeReplicas deletes the node's replicas that must go: of volumes being
// deleted, and of volumes whose spec moved away from the node once every
// replica of the spec holding data is UpToDate.
func (c *Controller) removeReplicas(ctx context.Context, agent agentv1.AgentClient, node string, pools []*agentv1.StoragePool, vols []*storagev1alpha1.StorageVolume) {
	rep := c.reportsCopy()[node]
	for _, v := range vols {
		switch {
		case v.DeletionTimestamp != nil:
			c.mu.Lock()
			done := c.deleted[v.UID][node]
			c.mu.Unlock()
			if done {
				continue
			}
			if err := c.deleteOnNode(ctx, agent, node, pools, v, true); err != nil {
				c.log.Warn("replica not deleted", "volume", v.Name, "node", node, "err", err)
			}
		case v.Spec.Replica(node) == nil && rep != nil && holds(rep, v):
			if why := c.unsafeToRemove(v); why != "" {
				c.setProblem(node, v.Name, "replica leaving this node kept: "+why)
				continue
			}
			if err := c.deleteOnNode(ctx, agent, node, pools, v, false); err != nil {
				c.log.Warn("replica not removed", "volume", v.Name, "node", node, "err", err)
				continue
			}
			c.recorder.Eventf(v, corev1.EventTypeNormal, reasonReplicaRemoved, "replica on %s removed: the volume's data is UpToDate on its other replicas", node)
		}
	}
}

// unsafeToRemove says why a replica leaving its node must stay for now:
// every diskful replica of the spec must be UpToDate first.
func (c *Controller) unsafeToRemove(v *storagev1alpha1.StorageVolume) string {
	reports := c.reportsCopy()
	diskful := 0
	for _, r := range v.Spec.Replicas {
		if r.Diskless {
			continue
		}
		diskful++
		rs := reports[r.Node].resource(v.Name)
		if rs == nil || rs.GetUid() != string(v.UID) {
			return "the new replica on " + r.Node + " is not deployed yet"
		}
		for _, vs := range rs.GetVolumes() {
			if vs.GetDiskState() != "UpToDate" && vs.GetDiskState() != "" {
				return "the replica on " + r.Node + " is " + vs.GetDiskState()
			}
		}
	}
	if diskful == 0 {
		return "no replica of the spec holds data"
	}
	return ""
}

func (c *Controller) setProblem(node, volume, msg string) {
	c.mu.Lock()
	rep := c.report(node)
	changed := rep.Problems[volume] != msg
	if changed { // copy on write: reportsCopy shares the map
		next := maps.Clone(rep.Problems)
		next[volume] = msg
		rep.Problems = next
	}
	c.mu.Unlock()
	if changed {
		c.volumes.Add(volume)
	}
}

func (c *Controller) setNodeError(node, msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rep := c.report(node)
	rep.Error = msg
	c.topoDirty = true
}

func (c *Controller) connected(node string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.reports[node]
	return r != nil && r.Connected
}

// volumesOn lists (from the cache, without copying) the volumes that
// concern a node.
func (c *Controller) volumesOn(ctx context.Context, node string) ([]*storagev1alpha1.StorageVolume, error) {
	list := &storagev1alpha1.StorageVolumeList{}
	if err := c.client.List(ctx, list, client.MatchingFields{volumeNodesIndex: node}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("list volumes of node %s: %w", node, err)
	}
	out := make([]*storagev1alpha1.StorageVolume, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	// Volumes being deleted may have left the index's nodes (spec changed)
	// while an agent still reports them: the deletion loop finds them by report.
	rep := c.reportsCopy()[node]
	if rep != nil && rep.Status != nil {
		listed := make(map[string]bool, len(out))
		for _, v := range out {
			listed[v.Name] = true
		}
		for _, rs := range rep.Status.GetResources() {
			if listed[rs.GetName()] {
				continue
			}
			v := &storagev1alpha1.StorageVolume{}
			if err := c.client.Get(ctx, types.NamespacedName{Name: rs.GetName()}, v); err == nil && string(v.UID) == rs.GetUid() {
				out = append(out, v)
			} else if err != nil && !apierrors.IsNotFound(err) {
				return nil, err
			}
		}
	}
	return out, nil
}

// ensureSession returns the node's agent session, (re)creating it when the
// node's agent address changed.
func (c *Controller) ensureSession(ctx context.Context, node string, spec *storagev1alpha1.StorageTopologySpec) (*session, error) {
	addr, err := c.agentAddress(ctx, node, spec)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	s := c.sessions[node]
	if s != nil && s.address == addr {
		c.mu.Unlock()
		return s, nil
	}
	delete(c.sessions, node)
	c.mu.Unlock()
	if s != nil {
		s.stop()
	}
	s = &session{node: node, address: addr, dial: c.dial, log: c.log, onStatus: c.onStatus}
	c.mu.Lock()
	c.sessions[node] = s
	c.mu.Unlock()
	s.start(c.ctx)
	return s, nil
}

// dropSession closes the session of a node that left.
func (c *Controller) dropSession(node string) {
	c.mu.Lock()
	s := c.sessions[node]
	delete(c.sessions, node)
	delete(c.reports, node)
	delete(c.applied, node)
	c.topoDirty = true
	c.mu.Unlock()
	if s != nil {
		s.stop()
	}
}

func (c *Controller) stopSessions() {
	c.mu.Lock()
	all := make([]*session, 0, len(c.sessions))
	for _, s := range c.sessions {
		all = append(all, s)
	}
	c.mu.Unlock()
	for _, s := range all {
		s.stop()
	}
}

// agentAddress is where a node's agent listens: the Node's
// storage.piraeus.io/agent-address annotation, else its first InternalIP
// (from the topology) and the agent port.
func (c *Controller) agentAddress(ctx context.Context, node string, spec *storagev1alpha1.StorageTopologySpec) (string, error) {
	kn := &corev1.Node{}
	if err := c.client.Get(ctx, types.NamespacedName{Name: node}, kn); err == nil {
		if a := kn.Annotations[AgentAddressAnnotation]; a != "" {
			return a, nil
		}
		for _, a := range kn.Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				return net.JoinHostPort(a.Address, strconv.Itoa(c.opts.AgentPort)), nil
			}
		}
	}
	addr, err := nodeAddress(orEmpty(spec), node, interfaceIPv4)
	if err != nil {
		return "", fmt.Errorf("agent of node %s: %w", node, err)
	}
	return net.JoinHostPort(addr, strconv.Itoa(c.opts.AgentPort)), nil
}

// kubeNodeEvent re-checks a node whose agent address may have changed.
func (c *Controller) kubeNodeEvent(old, obj any) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return
	}
	if o, ok := old.(*corev1.Node); ok && o.Annotations[AgentAddressAnnotation] == n.Annotations[AgentAddressAnnotation] && slices.Equal(o.Status.Addresses, n.Status.Addresses) {
		return
	}
	c.mu.Lock()
	_, known := c.sessions[n.Name]
	c.mu.Unlock()
	if known {
		c.nodes.Add(n.Name)
	}
}
