package hacontroller

import (
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Config are the settings decisions depend on.
type Config struct {
	// NodeName is this node (DRBD's and Kubernetes' name of it).
	NodeName string
	// FailOverTimeout is how long a loss must last before anything is done.
	FailOverTimeout time.Duration
	// GracePeriodSeconds is the grace period of evictions.
	GracePeriodSeconds int64
	// FailOverUnsafePods also fails over Pods with volumes of unknown safety.
	FailOverUnsafePods bool
	// DisableNodeTaints never taints or untaints nodes.
	DisableNodeTaints bool
}

// Volume is what Kubernetes says about the volume of one DRBD resource.
type Volume struct {
	// PV is the PersistentVolume of driver linstor.csi.linbit.com whose
	// volume handle is the resource name; nil when there is none.
	PV *corev1.PersistentVolume
	// PVC is the claim the PV's claimRef names; nil when there is none.
	PVC *corev1.PersistentVolumeClaim
	// Pods are the Pods that use the claim.
	Pods []*corev1.Pod
	// Attachments are the VolumeAttachments of the PV.
	Attachments []*storagev1.VolumeAttachment
}

// Cluster is the rest of the Kubernetes view a decision needs.
type Cluster struct {
	// Node returns the Node of that name, nil if there is none.
	Node func(name string) *corev1.Node
	// ClaimVolume returns the PersistentVolume bound to a claim, nil if none
	// (to judge whether a Pod's other volumes are safe to fail over).
	ClaimVolume func(namespace, claim string) *corev1.PersistentVolume
}

// ActionKind is what an action does.
type ActionKind string

// The actions.
const (
	Taint                  ActionKind = "taint"
	Untaint                ActionKind = "untaint"
	EvictPod               ActionKind = "evict"
	DeletePod              ActionKind = "delete-pod"
	DeleteVolumeAttachment ActionKind = "delete-volumeattachment"
	ForceDemote            ActionKind = "force-demote"
)

// Action is one thing to do. Actions of one Group run in order, and a
// failure skips the rest of its group (no VolumeAttachment is deleted
// while a Pod of the volume still runs on the node).
type Action struct {
	Kind  ActionKind
	Group string
	// Node and Taint for Taint and Untaint.
	Node  string
	Taint string
	// Pod for EvictPod and DeletePod, with the grace period to use.
	Pod          *corev1.Pod
	GraceSeconds int64
	// Attachment for DeleteVolumeAttachment.
	Attachment *storagev1.VolumeAttachment
	// Resource for ForceDemote.
	Resource string
	// Events to record once the action succeeded.
	Events []EventSpec
	// Why says which state made the action due.
	Why string
}

// EventSpec is a Kubernetes Event to record.
type EventSpec struct {
	Type, Reason, Action, Note string
	Regarding, Related         runtime.Object
}

// Decision is what to do about one resource (or about this node's taints).
type Decision struct {
	// Subject is the resource name, or "node/<name>" for own-node taints.
	Subject string
	// DRBD is the state that drove the decision (ResourceState.Summary).
	DRBD    string
	Actions []Action
	// Notes say why something was not done (yet).
	Notes []string
	// WakeAt asks for the decision to be made again then (a timer runs
	// out); zero when no timer is pending.
	WakeAt time.Time
}

func (d *Decision) note(format string, args ...any) {
	d.Notes = append(d.Notes, fmt.Sprintf(format, args...))
}

func (d *Decision) wake(at time.Time) {
	if d.WakeAt.IsZero() || at.Before(d.WakeAt) {
		d.WakeAt = at
	}
}

// DecideResource decides about one DRBD resource: fail-over of Pods on lost
// peers, eviction of local Pods of a volume forcing I/O errors, and forced
// demotion of a suspended Primary whose Pods are stuck terminating.
func DecideResource(cfg Config, now time.Time, res ResourceState, vol Volume, cl Cluster) Decision {
	d := Decision{Subject: res.Name, DRBD: res.Summary(now)}
	failOver(&d, cfg, now, &res, &vol, &cl)
	forceIOError(&d, cfg, &res, &vol)
	forceDemote(&d, cfg, now, &res, &vol)
	return d
}

func failOver(d *Decision, cfg Config, now time.Time, res *ResourceState, vol *Volume, cl *Cluster) {
	lost := lostConnections(res)
	if len(lost) == 0 {
		return
	}
	switch {
	case len(res.Devices) == 0 || !res.HasQuorum():
		d.note("no fail-over: this node has no quorum, so it may not promote")
		return
	case connectedPrimary(res) != "":
		d.note("no fail-over: peer %s is Primary and connected", connectedPrimary(res))
		return
	case !res.OptionsKnown:
		d.note("no fail-over yet: the quorum policy was not read yet")
		return
	case !res.Options.HasQuorumPolicy():
		d.note("no fail-over: the resource has no quorum policy")
		return
	case vol.PV == nil:
		d.note("no fail-over: no PersistentVolume of %s has volume handle %s", CSIDriver, res.Name)
		return
	case !bound(vol):
		d.note("no fail-over: PersistentVolume %s has no bound claim", vol.PV.Name)
		return
	case len(vol.Pods) > 0 && allReadOnly(vol.Pods, vol.PVC.Name):
		d.note("no fail-over: every Pod mounts claim %s/%s read-only", vol.PVC.Namespace, vol.PVC.Name)
		return
	}
	for _, c := range lost {
		failOverNode(d, cfg, now, res, vol, cl, c)
	}
}

func failOverNode(d *Decision, cfg Config, now time.Time, res *ResourceState, vol *Volume, cl *Cluster, c string) {
	if c == cfg.NodeName {
		d.note("connection %s names this node; left alone", c)
		return
	}
	node := cl.Node(c)
	if node == nil {
		d.note("connection %s: no Kubernetes Node has that name (DRBD connection names are node names); left alone", c)
		return
	}
	pods := podsOn(vol.Pods, c, func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	va := attachmentOn(vol.Attachments, c)
	if len(pods) == 0 && va == nil {
		d.note("node %s lost; no running Pod and no VolumeAttachment of the volume there", c)
		return
	}
	since, ok := res.LostSince[c]
	if !ok {
		since = now
	}
	if due := since.Add(cfg.FailOverTimeout); now.Before(due) {
		d.note("node %s lost for %s; fail-over at %s", c, now.Sub(since).Round(time.Millisecond), due.UTC().Format(time.RFC3339Nano))
		d.wake(due)
		return
	}
	if why := exempt(cfg, pods, cl); why != "" {
		d.note("node %s lost, left alone: %s", c, why)
		return
	}
	group := "fail-over/" + c
	ready := nodeReady(node)
	why := fmt.Sprintf("node %s lost for %s, this node has quorum, Node Ready=%t", c, now.Sub(since).Round(time.Millisecond), ready)
	if !cfg.DisableNodeTaints && !hasTaint(node, TaintLostQuorum) {
		ev := EventSpec{Type: corev1.EventTypeWarning, Reason: ReasonNodeStorageQuorumLost, Action: ActionTaintedNode,
			Note: "Tainted node because some volumes have lost quorum", Regarding: node}
		if va != nil {
			ev.Related = va
		}
		d.Actions = append(d.Actions, Action{Kind: Taint, Group: group, Node: c, Taint: TaintLostQuorum, Events: []EventSpec{ev}, Why: why})
	}
	for _, p := range pods {
		ev := EventSpec{Type: corev1.EventTypeWarning, Reason: ReasonVolumeWithoutQuorum, Action: ActionEvictedPod,
			Note: "Pod was evicted because attached volume lost quorum", Regarding: p, Related: vol.PV}
		switch {
		case ready && p.DeletionTimestamp == nil:
			d.Actions = append(d.Actions, Action{Kind: EvictPod, Group: group, Pod: p, GraceSeconds: cfg.GracePeriodSeconds, Events: []EventSpec{ev}, Why: why})
		case ready:
			d.note("Pod %s/%s is terminating on Ready node %s: its kubelet finishes it", p.Namespace, p.Name, c)
		default:
			d.Actions = append(d.Actions, Action{Kind: DeletePod, Group: group, Pod: p, GraceSeconds: 0, Events: []EventSpec{ev}, Why: why})
		}
	}
	if va != nil && va.DeletionTimestamp == nil {
		d.Actions = append(d.Actions, Action{Kind: DeleteVolumeAttachment, Group: group, Attachment: va, Why: why,
			Events: []EventSpec{{Type: corev1.EventTypeWarning, Reason: ReasonVolumeWithoutQuorum, Action: ActionVolumeAttachmentDeleted,
				Note: "Volume attachment was force-detached because node lost quorum", Regarding: va}}})
	}
}

func forceIOError(d *Decision, cfg Config, res *ResourceState, vol *Volume) {
	if !res.ForceIOFailures {
		return
	}
	if vol.PV == nil || vol.PVC == nil {
		d.note("forcing I/O errors, but no bound PersistentVolume has volume handle %s", res.Name)
		return
	}
	va := attachmentOn(vol.Attachments, cfg.NodeName)
	for _, p := range podsOn(vol.Pods, cfg.NodeName, func(p *corev1.Pod) bool { return p.DeletionTimestamp == nil }) {
		if why := exemptPod(p); why != "" {
			d.note("forcing I/O errors; Pod %s/%s left alone: %s", p.Namespace, p.Name, why)
			continue
		}
		ev := EventSpec{Type: corev1.EventTypeWarning, Reason: ReasonVolumeForcingIOErrors, Action: ActionEvictedPod,
			Note: "Pod was evicted because attached volume reports io-errors", Regarding: p}
		if va != nil {
			ev.Related = va
		}
		d.Actions = append(d.Actions, Action{Kind: EvictPod, Group: "force-io-error/" + p.Name, Pod: p,
			GraceSeconds: cfg.GracePeriodSeconds, Events: []EventSpec{ev}, Why: "the resource forces I/O errors on this node"})
	}
}

func forceDemote(d *Decision, cfg Config, now time.Time, res *ResourceState, vol *Volume) {
	if !res.Suspended || res.Role != "Primary" {
		return
	}
	if vol.PV == nil {
		d.note("suspended Primary, but no PersistentVolume has volume handle %s; left alone", res.Name)
		return
	}
	for _, p := range podsOn(vol.Pods, cfg.NodeName, nil) {
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			d.note("suspended Primary; Pod %s/%s still runs here, so no forced demotion", p.Namespace, p.Name)
			return
		}
	}
	since := res.SuspendedSince
	if since.IsZero() {
		since = now
	}
	if due := since.Add(cfg.FailOverTimeout); now.Before(due) {
		d.note("suspended Primary for %s; forced demotion at %s", now.Sub(since).Round(time.Millisecond), due.UTC().Format(time.RFC3339Nano))
		d.wake(due)
		return
	}
	note := "Volume is forcefully demoted as there are Pods stuck terminating"
	evs := []EventSpec{{Type: corev1.EventTypeWarning, Reason: ReasonVolumeWithoutQuorum, Action: ActionForcedVolumeDemotion, Note: note, Regarding: vol.PV}}
	if vol.PVC != nil {
		evs = append(evs, EventSpec{Type: corev1.EventTypeWarning, Reason: ReasonVolumeWithoutQuorum, Action: ActionForcedVolumeDemotion, Note: note, Regarding: vol.PVC})
	}
	d.Actions = append(d.Actions, Action{Kind: ForceDemote, Group: "force-demote", Resource: res.Name, Events: evs,
		Why: fmt.Sprintf("I/O suspended for %s while Primary, and no local Pod of the volume runs", now.Sub(since).Round(time.Millisecond))})
}

// DecideNode decides this node's own taints: lost-quorum while a resource
// with a quorum policy has lacked quorum for the fail-over timeout, and
// force-io-error while a resource forces I/O errors. Each is removed once
// its cause is gone.
func DecideNode(cfg Config, now time.Time, resources []ResourceState, node *corev1.Node) Decision {
	d := Decision{Subject: "node/" + cfg.NodeName}
	if cfg.DisableNodeTaints {
		return d
	}
	if node == nil {
		d.note("own Node %s is not known to Kubernetes", cfg.NodeName)
		return d
	}
	var noQuorum, pending, forcing, states []string
	for i := range resources {
		r := &resources[i]
		if r.ForceIOFailures {
			forcing = append(forcing, r.Name)
			states = append(states, r.Summary(now))
		}
		if !r.OptionsKnown || !r.Options.HasQuorumPolicy() || len(r.Devices) == 0 || r.HasQuorum() {
			continue
		}
		states = append(states, r.Summary(now))
		since := r.NoQuorumSince
		if since.IsZero() {
			since = now
		}
		if due := since.Add(cfg.FailOverTimeout); now.Before(due) {
			pending = append(pending, r.Name)
			d.wake(due)
			continue
		}
		noQuorum = append(noQuorum, r.Name)
	}
	d.DRBD = strings.Join(states, "; ")
	if d.DRBD == "" {
		d.DRBD = fmt.Sprintf("%d resources: every one with a quorum policy has quorum, none forces I/O errors", len(resources))
	}
	hasLQ, hasFIO := hasTaint(node, TaintLostQuorum), hasTaint(node, TaintForceIOError)
	own := func(kind ActionKind, key, why, evType, reason, action, note string) {
		d.Actions = append(d.Actions, Action{Kind: kind, Group: "own-taints", Node: node.Name, Taint: key, Why: why,
			Events: []EventSpec{{Type: evType, Reason: reason, Action: action, Note: note, Regarding: node}}})
	}
	switch {
	case len(noQuorum) > 0 && !hasLQ:
		own(Taint, TaintLostQuorum, "without quorum: "+strings.Join(noQuorum, ", "), corev1.EventTypeWarning,
			ReasonNodeStorageQuorumLost, ActionTaintedNode, "DRBD resource without quorum: "+strings.Join(noQuorum, ", "))
	case len(noQuorum) == 0 && len(pending) == 0 && hasLQ:
		own(Untaint, TaintLostQuorum, "every DRBD resource with a quorum policy has quorum", corev1.EventTypeNormal,
			ReasonNodeStorageQuorumRegained, ActionUntaintedNode, "All DRBD resources have quorum")
	case len(pending) > 0:
		d.note("without quorum for less than the fail-over timeout: %s", strings.Join(pending, ", "))
	}
	switch {
	case len(forcing) > 0 && !hasFIO:
		own(Taint, TaintForceIOError, "forcing I/O errors: "+strings.Join(forcing, ", "), corev1.EventTypeWarning,
			ReasonVolumeForcingIOErrors, ActionTaintedNode, "DRBD resource forcing IO errors: "+strings.Join(forcing, ", "))
	case len(forcing) == 0 && hasFIO:
		own(Untaint, TaintForceIOError, "no DRBD resource forces I/O errors", corev1.EventTypeNormal,
			ReasonNoVolumeForcingIOErrors, ActionUntaintedNode, "No DRBD resources forces IO errors")
	}
	return d
}

// lostConnections returns the names of connections that are not Connected.
func lostConnections(res *ResourceState) []string {
	var out []string
	for _, c := range res.Connections {
		if c.State != Connected {
			out = append(out, c.Name)
		}
	}
	slices.Sort(out)
	return out
}

func connectedPrimary(res *ResourceState) string {
	for _, c := range res.Connections {
		if c.State == Connected && c.PeerRole == "Primary" {
			return c.Name
		}
	}
	return ""
}

// bound reports whether the PV's claimRef names the PVC and the PVC is
// bound to the PV.
func bound(vol *Volume) bool {
	ref := vol.PV.Spec.ClaimRef
	if ref == nil || vol.PVC == nil {
		return false
	}
	if (ref.Kind != "" && ref.Kind != "PersistentVolumeClaim") || ref.Name != vol.PVC.Name || ref.Namespace != vol.PVC.Namespace {
		return false
	}
	if ref.UID != "" && vol.PVC.UID != "" && ref.UID != vol.PVC.UID {
		return false
	}
	return vol.PVC.Spec.VolumeName == vol.PV.Name
}

func podsOn(pods []*corev1.Pod, node string, keep func(*corev1.Pod) bool) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if p.Spec.NodeName == node && (keep == nil || keep(p)) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b *corev1.Pod) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	return out
}

func attachmentOn(vas []*storagev1.VolumeAttachment, node string) *storagev1.VolumeAttachment {
	for _, va := range vas {
		if va.Spec.NodeName == node {
			return va
		}
	}
	return nil
}

func allReadOnly(pods []*corev1.Pod, claim string) bool {
	for _, p := range pods {
		for _, v := range p.Spec.Volumes {
			if v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == claim && !v.PersistentVolumeClaim.ReadOnly {
				return false
			}
		}
	}
	return true
}

// exempt returns why the Pods on a lost node must be left alone, or "".
// One exempt Pod keeps the whole node's use of the volume (its Pods and
// VolumeAttachment) untouched.
func exempt(cfg Config, pods []*corev1.Pod, cl *Cluster) string {
	for _, p := range pods {
		if why := exemptPod(p); why != "" {
			return fmt.Sprintf("Pod %s/%s %s", p.Namespace, p.Name, why)
		}
		if cfg.FailOverUnsafePods {
			continue
		}
		for i := range p.Spec.Volumes {
			if !safeVolume(&p.Spec.Volumes[i], p.Namespace, cl) {
				return fmt.Sprintf("Pod %s/%s has volume %q whose fail-over may not be safe (--fail-over-unsafe-pods)", p.Namespace, p.Name, p.Spec.Volumes[i].Name)
			}
		}
	}
	return ""
}

func exemptPod(p *corev1.Pod) string {
	if _, ok := p.Annotations[AnnotationIgnoreFailOver]; ok {
		return "has annotation " + AnnotationIgnoreFailOver
	}
	if len(p.OwnerReferences) == 0 {
		return "has no owner (nothing would recreate it)"
	}
	return ""
}

// safeVolume reports whether a volume can be abandoned on a lost node:
// volumes that hold nothing the node could still write, and claims of
// read-only or DRBD-backed volumes.
func safeVolume(v *corev1.Volume, namespace string, cl *Cluster) bool {
	switch {
	case v.ConfigMap != nil, v.CSI != nil, v.DownwardAPI != nil, v.EmptyDir != nil,
		v.Ephemeral != nil, v.GitRepo != nil, v.Projected != nil, v.Secret != nil:
		return true
	case v.PersistentVolumeClaim != nil:
		if v.PersistentVolumeClaim.ReadOnly {
			return true
		}
		if cl.ClaimVolume == nil {
			return false
		}
		pv := cl.ClaimVolume(namespace, v.PersistentVolumeClaim.ClaimName)
		return pv != nil && pv.Spec.CSI != nil && (pv.Spec.CSI.ReadOnly || pv.Spec.CSI.Driver == CSIDriver)
	}
	return false
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func hasTaint(n *corev1.Node, key string) bool {
	return slices.ContainsFunc(n.Spec.Taints, func(t corev1.Taint) bool { return t.Key == key })
}
