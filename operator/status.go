package operator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/equality"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	piraeusv1 "github.com/piraeusctl/piraeusctl/api/v1"
	"github.com/piraeusctl/piraeusctl/apply"
	"github.com/piraeusctl/piraeusctl/plan"
)

// Condition types, as upstream piraeus-operator v2 names them.
const (
	ConditionApplied             = "Applied"
	ConditionAvailable           = "Available"
	ConditionConfigured          = "Configured"
	ConditionEvacuationCompleted = "EvacuationCompleted"
)

// The resources whose status the loop writes.
var (
	gvrCluster        = schema.GroupVersionResource{Group: "piraeus.io", Version: "v1", Resource: "linstorclusters"}
	gvrSatelliteConfs = schema.GroupVersionResource{Group: "piraeus.io", Version: "v1", Resource: "linstorsatelliteconfigurations"}
	gvrNodeConns      = schema.GroupVersionResource{Group: "piraeus.io", Version: "v1", Resource: "linstornodeconnections"}
	gvrSatellites     = schema.GroupVersionResource{Group: "piraeus.io", Version: "v1", Resource: "linstorsatellites"}
	gvrTopologies     = schema.GroupVersionResource{Group: "storage.piraeus.io", Version: "v1alpha1", Resource: "storagetopologies"}
	gvrVolumes        = schema.GroupVersionResource{Group: "storage.piraeus.io", Version: "v1alpha1", Resource: "storagevolumes"}
	gvrLeases         = schema.GroupVersionResource{Group: "coordination.k8s.io", Version: "v1", Resource: "leases"}
)

// controllerLease is the Lease the linstor-controllers elect their leader
// with (controller.LeaseName); a holder that renews it is up.
const controllerLease = "linstor-controller"

// facts are what the conditions are computed from, gathered once per pass.
type facts struct {
	out      *Outcome
	mode     DriftMode
	model    *plan.Model
	failed   map[apply.ObjectRef]string   // failed objects and why
	drift    map[apply.ObjectRef]bool     // objects that differed
	perNode  map[string][]apply.ObjectRef // each satellite's rendered objects
	objects  int
	topology *storagev1alpha1.StorageTopology
	lease    *unstructured.Unstructured
	now      time.Time
}

// writeStatus sets the conditions of every piraeus.io object the plan
// reads and of the LinstorSatellites, writing only those that changed; it
// returns the number of writes.
func (l *Loop) writeStatus(ctx context.Context, out *Outcome) (int, error) {
	f, err := l.gather(ctx, out)
	if err != nil {
		return 0, err
	}
	writes := 0
	var errs []error
	for _, w := range []struct {
		gvr  schema.GroupVersionResource
		desc func(*unstructured.Unstructured) []metav1.Condition
	}{
		{gvrCluster, f.clusterConditions},
		{gvrSatelliteConfs, f.satelliteConfigurationConditions},
		{gvrNodeConns, f.nodeConnectionConditions},
		{gvrSatellites, f.satelliteConditions},
	} {
		n, err := l.setConditions(ctx, w.gvr, w.desc)
		writes += n
		errs = append(errs, err)
	}
	return writes, errors.Join(errs...)
}

func (l *Loop) gather(ctx context.Context, out *Outcome) (*facts, error) {
	f := &facts{out: out, mode: l.opts.Drift, failed: map[apply.ObjectRef]string{}, drift: map[apply.ObjectRef]bool{},
		perNode: map[string][]apply.ObjectRef{}, now: time.Now()}
	if out.Plan != nil {
		f.model = out.Plan.Built.Model
		f.objects = len(out.Plan.Plan.Objects)
		for _, o := range out.Plan.Plan.Objects {
			if node := o.GetAnnotations()[nodeAnnotation]; node != "" {
				ref := apply.RefOf(o)
				if ref.Namespace == "" && o.GetKind() != "LinstorSatellite" {
					ref.Namespace = l.opts.Namespace
				}
				f.perNode[node] = append(f.perNode[node], ref)
			}
		}
	}
	if out.Apply != nil {
		for _, c := range out.Apply.Changes {
			if c.Action == apply.Failed {
				f.failed[c.Object] = c.Message
			}
		}
		for _, c := range out.Drift {
			f.drift[c.Object] = true
		}
	}
	topos, err := l.list(ctx, gvrTopologies, "")
	if err != nil {
		return nil, err
	}
	if len(topos) > 0 {
		f.topology = &storagev1alpha1.StorageTopology{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(topos[0].Object, f.topology); err != nil {
			return nil, fmt.Errorf("decode StorageTopology: %w", err)
		}
	}
	lease, err := l.dyn.Resource(gvrLeases).Namespace(l.opts.Namespace).Get(ctx, controllerLease, metav1.GetOptions{})
	if err != nil && !kerrors.IsNotFound(err) {
		return nil, fmt.Errorf("read Lease %s: %w", controllerLease, err)
	}
	if err == nil {
		f.lease = lease
	}
	return f, nil
}

// nodeAnnotation marks the objects of one node's satellite (see templates).
const nodeAnnotation = "storage.piraeus.io/node"

// list returns the objects of a resource; none when it is not served.
func (l *Loop) list(ctx context.Context, gvr schema.GroupVersionResource, namespace string) ([]unstructured.Unstructured, error) {
	list, err := l.dyn.Resource(gvr).Namespace(namespace).List(ctx, metav1.ListOptions{})
	if kerrors.IsNotFound(err) || meta.IsNoMatchError(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", gvr.Resource, err)
	}
	return list.Items, nil
}

// setConditions merges each object's desired conditions into its status
// and writes those that changed (lastTransitionTime moves only when a
// condition's status does, so an unchanged state writes nothing).
func (l *Loop) setConditions(ctx context.Context, gvr schema.GroupVersionResource, desired func(*unstructured.Unstructured) []metav1.Condition) (int, error) {
	items, err := l.list(ctx, gvr, "")
	if err != nil {
		return 0, err
	}
	writes := 0
	var errs []error
	for i := range items {
		obj := &items[i]
		cur, err := conditionsOf(obj)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		next := slices.Clone(cur)
		for _, c := range desired(obj) {
			c.ObservedGeneration = obj.GetGeneration()
			meta.SetStatusCondition(&next, c)
		}
		if apierrors.Semantic.DeepEqual(cur, next) {
			continue
		}
		patch, err := json.Marshal(map[string]any{"status": map[string]any{"conditions": next}})
		if err != nil {
			return writes, err
		}
		_, err = l.dyn.Resource(gvr).Namespace(obj.GetNamespace()).Patch(ctx, obj.GetName(), types.MergePatchType, patch,
			metav1.PatchOptions{FieldManager: l.opts.FieldManager}, "status")
		if err != nil {
			errs = append(errs, fmt.Errorf("status of %s/%s: %w", obj.GetKind(), obj.GetName(), err))
			continue
		}
		writes++
	}
	return writes, errors.Join(errs...)
}

func conditionsOf(obj *unstructured.Unstructured) ([]metav1.Condition, error) {
	raw, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	var out []metav1.Condition
	for _, r := range raw {
		m, ok := r.(map[string]any)
		if !ok {
			continue
		}
		var c metav1.Condition
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &c); err != nil {
			return nil, fmt.Errorf("conditions of %s/%s: %w", obj.GetKind(), obj.GetName(), err)
		}
		out = append(out, c)
	}
	return out, nil
}

func condition(t string, ok bool, reason, message string) metav1.Condition {
	s := metav1.ConditionFalse
	if ok {
		s = metav1.ConditionTrue
	}
	return metav1.Condition{Type: t, Status: s, Reason: reason, Message: truncate(message, 1024)}
}

// applied is the Applied condition of the whole plan.
func (f *facts) applied() metav1.Condition {
	switch {
	case f.out.PlanErr != nil:
		return condition(ConditionApplied, false, "PlanInvalid",
			"the plan does not validate, so nothing was applied and the last good state stays: "+f.out.PlanErr.Error()+"; fix the objects named and the next pass applies")
	case f.out.ApplyErr != nil:
		return condition(ConditionApplied, false, "ApplyFailed",
			"applying the plan failed: "+f.out.ApplyErr.Error()+"; the loop retries, see the operator's Events and logs")
	case f.mode == DriftReport && len(f.out.Drift) > 0:
		return condition(ConditionApplied, false, "DriftDetected",
			fmt.Sprintf("%d of %d objects differ from the plan (%s); drift mode is report, so the operator does not write: apply the plan from git or run piraeusctl apply", len(f.out.Drift), f.objects, refList(driftRefs(f.out.Drift))))
	}
	return condition(ConditionApplied, true, "Applied", fmt.Sprintf("all %d objects of the plan are applied and current", f.objects))
}

func (f *facts) clusterConditions(*unstructured.Unstructured) []metav1.Condition {
	return []metav1.Condition{f.applied(), f.controllerAvailable(), f.controllerConfigured()}
}

func (f *facts) controllerAvailable() metav1.Condition {
	if f.model != nil && f.model.Cluster.Spec.ExternalController != nil {
		return condition(ConditionAvailable, true, "ExternalController", "the controller is external ("+f.model.Cluster.Spec.ExternalController.URL+")")
	}
	if f.lease == nil {
		return condition(ConditionAvailable, false, "ControllerNotRunning",
			"no linstor-controller has taken the Lease "+controllerLease+" yet: check the linstor-controller Deployment and its Pods")
	}
	holder, _, _ := unstructured.NestedString(f.lease.Object, "spec", "holderIdentity")
	renew, _, _ := unstructured.NestedString(f.lease.Object, "spec", "renewTime")
	secs, _, _ := unstructured.NestedInt64(f.lease.Object, "spec", "leaseDurationSeconds")
	at, err := time.Parse(time.RFC3339Nano, renew)
	if holder == "" || err != nil || f.now.Sub(at) > time.Duration(max(secs, 15))*time.Second {
		return condition(ConditionAvailable, false, "ControllerNotRenewing",
			"the linstor-controller leader stopped renewing the Lease "+controllerLease+": check its Pod and logs")
	}
	return condition(ConditionAvailable, true, "ControllerAvailable", "linstor-controller "+holder+" leads and renews its Lease")
}

func (f *facts) controllerConfigured() metav1.Condition {
	if f.topology == nil {
		return condition(ConditionConfigured, false, "NoTopology", "the StorageTopology is not applied yet: wait for the operator's next pass")
	}
	if f.topology.Status.ObservedGeneration < f.topology.Generation {
		return condition(ConditionConfigured, false, "Pending", fmt.Sprintf(
			"the controller has not converged StorageTopology %s generation %d yet (observed %d): check that linstor-controller runs",
			f.topology.Name, f.topology.Generation, f.topology.Status.ObservedGeneration))
	}
	return condition(ConditionConfigured, true, "Configured",
		"the controller runs with the current StorageTopology (properties, pools, resource groups)")
}

// objectError returns the plan errors about Kind/name, if any.
func (f *facts) objectError(kind, name string) string {
	var list plan.ErrorList
	if !errors.As(f.out.PlanErr, &list) {
		return ""
	}
	var msgs []string
	for _, e := range list {
		if e.Object == kind+"/"+name {
			msgs = append(msgs, e.Error())
		}
	}
	return strings.Join(msgs, "; ")
}

func (f *facts) satelliteConfigurationConditions(obj *unstructured.Unstructured) []metav1.Condition {
	if msg := f.objectError("LinstorSatelliteConfiguration", obj.GetName()); msg != "" {
		return []metav1.Condition{condition(ConditionApplied, false, "InvalidConfiguration",
			msg+"; fix this configuration: nothing is applied until the plan validates")}
	}
	if f.model == nil {
		return []metav1.Condition{condition(ConditionApplied, false, "PlanInvalid", "the plan does not validate: see the LinstorCluster's Applied condition")}
	}
	var nodes []string
	for _, s := range f.model.Satellites {
		if slices.Contains(s.Configurations, obj.GetName()) {
			nodes = append(nodes, s.Node)
		}
	}
	if len(nodes) == 0 {
		return []metav1.Condition{condition(ConditionApplied, true, "NoMatchingNode", "selects no node: check spec.nodeSelector and spec.nodeAffinity")}
	}
	if c, bad := f.nodesState(nodes); bad {
		return []metav1.Condition{c}
	}
	return []metav1.Condition{condition(ConditionApplied, true, "Applied", fmt.Sprintf("applied on %d satellites: %s", len(nodes), list(nodes)))}
}

// nodesState is the Applied condition of nodes' satellites when one of
// them failed or drifted in report mode.
func (f *facts) nodesState(nodes []string) (metav1.Condition, bool) {
	if f.out.ApplyErr != nil {
		for _, n := range nodes {
			for _, ref := range f.perNode[n] {
				if msg, ok := f.failed[ref]; ok {
					return condition(ConditionApplied, false, "ApplyFailed", ref.String()+": "+msg), true
				}
			}
		}
		return condition(ConditionApplied, false, "ApplyFailed", "the pass failed before the satellites were applied: see the LinstorCluster's Applied condition"), true
	}
	if f.mode == DriftReport {
		var drifted []apply.ObjectRef
		for _, n := range nodes {
			for _, ref := range f.perNode[n] {
				if f.drift[ref] {
					drifted = append(drifted, ref)
				}
			}
		}
		if len(drifted) > 0 {
			return condition(ConditionApplied, false, "DriftDetected", refList(drifted)+" differ from the plan; drift mode is report: apply the plan from git"), true
		}
	}
	return metav1.Condition{}, false
}

func (f *facts) nodeConnectionConditions(obj *unstructured.Unstructured) []metav1.Condition {
	if msg := f.objectError("LinstorNodeConnection", obj.GetName()); msg != "" {
		return []metav1.Condition{condition(ConditionConfigured, false, "InvalidConnection", msg+"; fix this connection: nothing is applied until the plan validates")}
	}
	if f.model == nil {
		return []metav1.Condition{condition(ConditionConfigured, false, "PlanInvalid", "the plan does not validate: see the LinstorCluster's Applied condition")}
	}
	a := f.applied()
	if a.Status != metav1.ConditionTrue {
		return []metav1.Condition{condition(ConditionConfigured, false, a.Reason, "the plan is not applied: see the LinstorCluster's Applied condition")}
	}
	return []metav1.Condition{condition(ConditionConfigured, true, "Configured", "the node connections are in the applied StorageTopology")}
}

// satelliteConditions are a LinstorSatellite's (named after its node).
func (f *facts) satelliteConditions(obj *unstructured.Unstructured) []metav1.Condition {
	node := obj.GetName()
	conds := []metav1.Condition{f.satelliteApplied(node), f.satelliteAvailable(node), f.satelliteConfigured(node)}
	if c, ok := f.evacuation(node); ok {
		conds = append(conds, c)
	}
	return conds
}

// evacuation is the EvacuationCompleted condition of a node that leaves
// with deletion policy Evacuate, as upstream sets it only then: False
// while replicas move (the message lists each volume's step) and True once
// none is left, before the node leaves the topology and its satellite goes.
func (f *facts) evacuation(node string) (metav1.Condition, bool) {
	if f.model == nil {
		return metav1.Condition{}, false
	}
	l := f.model.LeavingNode(node)
	if l == nil || l.Policy != piraeusv1.DeletionPolicyEvacuate {
		return metav1.Condition{}, false
	}
	switch l.State {
	case plan.LeavingWaiting:
		return condition(ConditionEvacuationCompleted, false, "WaitingForSlot", l.Message()+"; it starts when an evacuation under way completes"), true
	case plan.LeavingEvacuating:
		return condition(ConditionEvacuationCompleted, false, "Evacuating", l.Message()+"; the next step comes when these hold (kubectl get storagevolumes shows each replica)"), true
	case plan.LeavingEvacuated, plan.LeavingRemoved:
		return condition(ConditionEvacuationCompleted, true, "Evacuated", l.Message()), true
	}
	return metav1.Condition{}, false
}

func (f *facts) satelliteApplied(node string) metav1.Condition {
	if f.model == nil {
		return condition(ConditionApplied, false, "PlanInvalid", "the plan does not validate: see the LinstorCluster's Applied condition")
	}
	if f.nodeGone(node) {
		return condition(ConditionApplied, true, "NodeGone", "the Node is gone, so no satellite runs there; this object stays until the evacuation is complete")
	}
	if !slices.ContainsFunc(f.model.Satellites, func(s plan.Satellite) bool { return s.Node == node }) {
		return condition(ConditionApplied, false, "NotInPlan", "the plan has no satellite for this node (no longer selected by LinstorCluster.spec.nodeSelector, or the Node is gone)")
	}
	if c, bad := f.nodesState([]string{node}); bad {
		return c
	}
	return condition(ConditionApplied, true, "Applied", "the satellite's DaemonSet and configuration are applied and current")
}

// nodeGone reports whether the node is evacuated after its Node was
// deleted: its LinstorSatellite stays, no satellite runs.
func (f *facts) nodeGone(node string) bool {
	if f.model == nil {
		return false
	}
	l := f.model.LeavingNode(node)
	return l != nil && l.Policy == piraeusv1.DeletionPolicyEvacuate && l.Reason == storagev1alpha1.LeavingNodeDeleted
}

func (f *facts) nodeStatus(node string) *storagev1alpha1.NodeStatus {
	if f.topology == nil {
		return nil
	}
	for i := range f.topology.Status.Nodes {
		if f.topology.Status.Nodes[i].Name == node {
			return &f.topology.Status.Nodes[i]
		}
	}
	return nil
}

func (f *facts) satelliteAvailable(node string) metav1.Condition {
	if f.nodeGone(node) {
		return condition(ConditionAvailable, false, "NodeGone", "the Node was deleted, so no agent runs there; its replicas move to other nodes (see EvacuationCompleted)")
	}
	ns := f.nodeStatus(node)
	if ns == nil || !ns.Connected {
		return condition(ConditionAvailable, false, "NotConnected",
			"the controller holds no connection to this node's agent: check the satellite Pod on the node and its TLS Secret")
	}
	return condition(ConditionAvailable, true, "Connected", "the controller is connected to the node's agent")
}

func (f *facts) satelliteConfigured(node string) metav1.Condition {
	if f.nodeGone(node) {
		return condition(ConditionConfigured, false, "NodeGone", "the Node was deleted: nothing to configure")
	}
	ns := f.nodeStatus(node)
	if ns == nil || !ns.Connected {
		return condition(ConditionConfigured, false, "NotConnected", "storage pools and properties are set up once the agent is connected")
	}
	var problems []string
	problems = append(problems, ns.Errors...)
	have := map[string]bool{}
	for _, p := range ns.Pools {
		have[p.Name] = true
		if p.Error != "" {
			problems = append(problems, "pool "+p.Name+": "+p.Error)
		}
	}
	if f.topology != nil {
		for _, tn := range f.topology.Spec.Nodes {
			if tn.Name != node {
				continue
			}
			for _, p := range tn.StoragePools {
				if !have[p.Name] {
					problems = append(problems, "pool "+p.Name+" not reported by the agent yet")
				}
			}
		}
	}
	if len(problems) > 0 {
		return condition(ConditionConfigured, false, "PoolsNotReady", strings.Join(problems, "; ")+": check the node's devices and the satellite's logs")
	}
	return condition(ConditionConfigured, true, "Configured", fmt.Sprintf("storage pools and properties are set up (%d pools)", len(ns.Pools)))
}

func driftRefs(cs []apply.Change) []apply.ObjectRef {
	out := make([]apply.ObjectRef, len(cs))
	for i, c := range cs {
		out[i] = c.Object
	}
	return out
}

func refList(refs []apply.ObjectRef) string {
	s := make([]string, len(refs))
	for i, r := range refs {
		s[i] = r.String()
	}
	return list(s)
}

// list joins names, eliding all after the tenth.
func list(names []string) string {
	if len(names) > 10 {
		return strings.Join(names[:10], ", ") + fmt.Sprintf(" and %d more", len(names)-10)
	}
	return strings.Join(names, ", ")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
