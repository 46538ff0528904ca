package hacontroller

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/piraeusctl/piraeusctl/agent/drbd"
)

// The fixtures describe one volume pvc-1 replicated on node-a (where its
// Pod web-0 runs), node-b (this node) and node-c (diskless tie-breaker).
var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

const (
	self      = "node-b"
	lostNode  = "node-a"
	resName   = "pvc-1"
	pvName    = "pvc-1"
	claimName = "data-web-0"
	namespace = "default"
)

func testConfig() Config {
	return Config{NodeName: self, FailOverTimeout: 5 * time.Second, GracePeriodSeconds: 10}
}

type connSpec struct {
	name, state, role string
	lostFor           time.Duration
}

func resState(now time.Time, role string, quorum bool, policy string, conns ...connSpec) ResourceState {
	r := ResourceState{
		Resource: drbd.Resource{Name: resName, Role: role, NodeID: 1,
			Devices: []drbd.Device{{Volume: 0, Minor: 1000, DiskState: "UpToDate", Quorum: quorum}}},
		Options:      drbd.Options{Quorum: policy},
		OptionsKnown: true,
	}
	if !quorum {
		r.NoQuorumSince = now.Add(-time.Minute)
	}
	for i, c := range conns {
		r.Connections = append(r.Connections, drbd.Connection{PeerNodeID: i + 10, Name: c.name, State: c.state, PeerRole: c.role})
		if c.state != Connected {
			if r.LostSince == nil {
				r.LostSince = map[string]time.Time{}
			}
			r.LostSince[c.name] = now.Add(-c.lostFor)
		}
	}
	return r
}

func node(name string, ready bool, taints ...string) *corev1.Node {
	st := corev1.ConditionTrue
	if !ready {
		st = corev1.ConditionUnknown
	}
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name)},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: st}}}}
	for _, t := range taints {
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: t, Effect: corev1.TaintEffectNoSchedule})
	}
	return n
}

func pv(name, handle, claim string) *corev1.PersistentVolume {
	p := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-pv-" + name)},
		Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{
			CSI: &corev1.CSIPersistentVolumeSource{Driver: CSIDriver, VolumeHandle: handle}}}}
	if claim != "" {
		p.Spec.ClaimRef = &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: namespace, Name: claim}
	}
	return p
}

func pvc(name, volume string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, UID: types.UID("uid-pvc-" + name)},
		Spec: corev1.PersistentVolumeClaimSpec{VolumeName: volume}}
}

type podOpt func(*corev1.Pod)

func pod(name, nodeName string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, UID: types.UID("uid-pod-" + name),
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "web", UID: "uid-sts"}}},
		Spec: corev1.PodSpec{NodeName: nodeName, Volumes: []corev1.Volume{
			{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claimName}}},
			{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "web"}}}},
		}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func ignored(p *corev1.Pod) {
	p.Annotations = map[string]string{AnnotationIgnoreFailOver: ""}
}

func ownerless(p *corev1.Pod) { p.OwnerReferences = nil }

func readOnly(p *corev1.Pod) { p.Spec.Volumes[0].PersistentVolumeClaim.ReadOnly = true }

func terminating(p *corev1.Pod) {
	ts := metav1.NewTime(t0)
	p.DeletionTimestamp = &ts
}

func pending(p *corev1.Pod) { p.Status.Phase = corev1.PodPending }

func hostPath(p *corev1.Pod) {
	p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "logs",
		VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/log/web"}}})
}

func attachment(name, nodeName string) *storagev1.VolumeAttachment {
	p := pvName
	return &storagev1.VolumeAttachment{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-va-" + name)},
		Spec: storagev1.VolumeAttachmentSpec{Attacher: CSIDriver, NodeName: nodeName,
			Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: &p}}}
}

func cluster(nodes ...*corev1.Node) Cluster {
	m := map[string]*corev1.Node{}
	for _, n := range nodes {
		m[n.Name] = n
	}
	return Cluster{Node: func(name string) *corev1.Node { return m[name] }, ClaimVolume: func(ns, claim string) *corev1.PersistentVolume {
		if ns == namespace && claim == claimName {
			return pv(pvName, resName, claimName)
		}
		return nil
	}}
}
