package hacontroller

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"

	"github.com/piraeusctl/piraeusctl/internal/golden"
)

// formatAction is an action as golden files and logs show it.
func formatAction(a Action) string {
	var target string
	switch a.Kind {
	case Taint, Untaint:
		target = fmt.Sprintf("node/%s %s:NoSchedule", a.Node, a.Taint)
	case EvictPod, DeletePod:
		target = fmt.Sprintf("pod/%s/%s grace=%ds", a.Pod.Namespace, a.Pod.Name, a.GraceSeconds)
	case DeleteVolumeAttachment:
		target = "volumeattachment/" + a.Attachment.Name
	case ForceDemote:
		target = "drbd/" + a.Resource
	}
	var evs []string
	for _, e := range a.Events {
		evs = append(evs, e.Reason+"/"+e.Action)
	}
	return fmt.Sprintf("%s %s [%s]", a.Kind, target, strings.Join(evs, " "))
}

func formatDecision(d Decision, now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  drbd: %s\n", d.DRBD)
	for _, a := range d.Actions {
		fmt.Fprintf(&b, "  %s\n", formatAction(a))
	}
	for _, n := range d.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	if !d.WakeAt.IsZero() {
		fmt.Fprintf(&b, "  wake: +%s\n", d.WakeAt.Sub(now))
	}
	if len(d.Actions) == 0 {
		b.WriteString("  (nothing to do)\n")
	}
	return b.String()
}

// The dimensions of the decision table.
var (
	localStates = []struct {
		name   string
		role   string
		quorum bool
	}{{"secondary+quorum", "Secondary", true}, {"primary+quorum", "Primary", true}, {"secondary+no-quorum", "Secondary", false}}
	peerStates = []struct {
		name string
		conn connSpec
	}{
		{"peer-connected-secondary", connSpec{lostNode, Connected, "Secondary", 0}},
		{"peer-connected-primary", connSpec{lostNode, Connected, "Primary", 0}},
		{"peer-lost-2s", connSpec{lostNode, "Connecting", "Unknown", 2 * time.Second}},
		{"peer-lost-10s", connSpec{lostNode, "Connecting", "Unknown", 10 * time.Second}},
	}
	presences   = []string{"nothing", "pod", "va", "pod+va"}
	annotations = []string{"plain", "ignore-annotation"}
	readiness   = []bool{true, false}
)

type tableCase struct {
	key                              string
	local, peer, presence, annot     int
	ready                            bool
	peerLost, peerPrimary, hasQuorum bool
}

func tableCases() []tableCase {
	var out []tableCase
	for li, l := range localStates {
		for pi, p := range peerStates {
			for si, s := range presences {
				for ai, a := range annotations {
					if ai > 0 && !strings.Contains(s, "pod") {
						continue
					}
					for _, r := range readiness {
						rs := "node-ready"
						if !r {
							rs = "node-notready"
						}
						out = append(out, tableCase{
							key:   strings.Join([]string{l.name, p.name, s, a, rs}, " "),
							local: li, peer: pi, presence: si, annot: ai, ready: r,
							peerLost: p.conn.state != Connected, peerPrimary: p.conn.role == "Primary", hasQuorum: l.quorum,
						})
					}
				}
			}
		}
	}
	return out
}

func (c tableCase) decide() Decision {
	now := t0.Add(time.Minute)
	l, p := localStates[c.local], peerStates[c.peer]
	res := resState(now, l.role, l.quorum, "majority", p.conn, connSpec{"node-c", Connected, "Secondary", 0})
	vol := Volume{PV: pv(pvName, resName, claimName), PVC: pvc(claimName, pvName)}
	var opts []podOpt
	if c.annot == 1 {
		opts = append(opts, ignored)
	}
	if strings.Contains(presences[c.presence], "pod") {
		vol.Pods = append(vol.Pods, pod("web-0", lostNode, opts...))
	}
	if strings.Contains(presences[c.presence], "va") {
		vol.Attachments = append(vol.Attachments, attachment("csi-a", lostNode))
	}
	return DecideResource(testConfig(), now, res, vol, cluster(node(lostNode, c.ready), node(self, true), node("node-c", true)))
}

// TestDecisionTableGolden: every combination of local role and quorum,
// peer state, Pod and VolumeAttachment presence, annotation and Node
// readiness, one line each.
func TestDecisionTableGolden(t *testing.T) {
	var b strings.Builder
	for _, c := range tableCases() {
		d := c.decide()
		var acts []string
		for _, a := range d.Actions {
			acts = append(acts, strings.SplitN(formatAction(a), " [", 2)[0])
		}
		if len(acts) == 0 {
			acts = []string{"-"}
		}
		fmt.Fprintf(&b, "%-95s → %s\n", c.key, strings.Join(acts, "; "))
	}
	golden.Assert(t, golden.Path("decide", "table.txt"), b.String())
}

// TestDecisionTableSafety: no case touches anything while the peer is
// connected, this node lacks quorum, the loss is shorter than the timeout,
// or the Pod carries the ignore annotation; and no Pod is deleted with
// grace 0 while its Node is Ready.
func TestDecisionTableSafety(t *testing.T) {
	for _, c := range tableCases() {
		d := c.decide()
		mustBeQuiet := !c.peerLost || !c.hasQuorum || c.peer == 2 || (c.annot == 1 && strings.Contains(presences[c.presence], "pod"))
		assert.False(t, mustBeQuiet && len(d.Actions) > 0, "%s: want no action, got %v", c.key, d.Actions)
		for _, a := range d.Actions {
			assert.False(t, a.Kind == DeletePod && c.ready, "%s: grace-0 delete on a Ready node", c.key)
			assert.False(t, a.Kind == EvictPod && !c.ready, "%s: eviction on a NotReady node (kubelet cannot confirm it)", c.key)
		}
		assert.False(t, !mustBeQuiet && c.presence != 0 && len(d.Actions) == 0, "%s: want a fail-over, got nothing (%v)", c.key, d.Notes)
	}
}

type namedCase struct {
	name  string
	now   time.Time
	res   ResourceState
	vol   Volume
	nodes []*corev1.Node
	cfg   func(*Config)
}

func namedCases() []namedCase {
	now := t0.Add(time.Minute)
	lost := connSpec{lostNode, "Connecting", "Unknown", 10 * time.Second}
	tie := connSpec{"node-c", Connected, "Secondary", 0}
	okRes := resState(now, "Secondary", true, "majority", lost, tie)
	std := func(pods ...*corev1.Pod) Volume {
		return Volume{PV: pv(pvName, resName, claimName), PVC: pvc(claimName, pvName), Pods: pods,
			Attachments: []*storagev1.VolumeAttachment{attachment("csi-a", lostNode)}}
	}
	nodes := []*corev1.Node{node(lostNode, true), node(self, true), node("node-c", true)}
	notReady := []*corev1.Node{node(lostNode, false), node(self, true), node("node-c", true)}
	noPolicy := resState(now, "Secondary", true, "off", lost, tie)
	unread := okRes
	unread.OptionsKnown = false
	flap := resState(now, "Secondary", true, "majority", connSpec{lostNode, "Connecting", "Unknown", 4900 * time.Millisecond}, tie)
	unknownNode := resState(now, "Secondary", true, "majority", connSpec{"peer", "Connecting", "Unknown", time.Minute})
	forceIO := resState(now, "Primary", false, "majority", connSpec{lostNode, "Connecting", "Unknown", time.Minute})
	forceIO.ForceIOFailures = true
	suspended := resState(now, "Primary", false, "majority", connSpec{lostNode, "Connecting", "Unknown", time.Minute})
	suspended.Suspended, suspended.SuspendedSince = true, now.Add(-30*time.Second)
	suspendedShort := suspended
	suspendedShort.SuspendedSince = now.Add(-time.Second)
	return []namedCase{
		{name: "fail-over, node Ready: taint, evict with grace, delete the attachment", now: now, res: okRes, vol: std(pod("web-0", lostNode)), nodes: nodes},
		{name: "fail-over, node NotReady: taint, grace-0 delete, delete the attachment", now: now, res: okRes, vol: std(pod("web-0", lostNode)), nodes: notReady},
		{name: "fail-over, node already tainted: no second taint", now: now, res: okRes, vol: std(pod("web-0", lostNode)),
			nodes: []*corev1.Node{node(lostNode, false, TaintLostQuorum), node(self, true)}},
		{name: "fail-over with node taints disabled", now: now, res: okRes, vol: std(pod("web-0", lostNode)), nodes: nodes,
			cfg: func(c *Config) { c.DisableNodeTaints = true }},
		{name: "eviction accepted, Pod terminating, node Ready: wait for the kubelet, attachment goes", now: now, res: okRes,
			vol: std(pod("web-0", lostNode, terminating)), nodes: nodes},
		{name: "eviction blocked then node NotReady: terminating Pod deleted with grace 0", now: now, res: okRes,
			vol: std(pod("web-0", lostNode, terminating)), nodes: notReady},
		{name: "Pods elsewhere and Pending Pods are not touched", now: now, res: okRes,
			vol: Volume{PV: pv(pvName, resName, claimName), PVC: pvc(claimName, pvName),
				Pods: []*corev1.Pod{pod("web-1", self), pod("web-2", lostNode, pending)}}, nodes: nodes},
		{name: "must do nothing: network flap shorter than the timeout", now: now, res: flap, vol: std(pod("web-0", lostNode)), nodes: nodes},
		{name: "must do nothing: read-only Pods", now: now, res: okRes, vol: std(pod("web-0", lostNode, readOnly)), nodes: nodes},
		{name: "must do nothing: Pod with the ignore annotation (attachment kept too)", now: now, res: okRes,
			vol: std(pod("web-0", lostNode, ignored)), nodes: notReady},
		{name: "must do nothing: resource without quorum policy", now: now, res: noPolicy, vol: std(pod("web-0", lostNode)), nodes: notReady},
		{name: "must do nothing: quorum policy not read yet", now: now, res: unread, vol: std(pod("web-0", lostNode)), nodes: notReady},
		{name: "must do nothing: ownerless Pod", now: now, res: okRes, vol: std(pod("web-0", lostNode, ownerless)), nodes: notReady},
		{name: "must do nothing: Pod with an unsafe (hostPath) volume", now: now, res: okRes, vol: std(pod("web-0", lostNode, hostPath)), nodes: notReady},
		{name: "unsafe volume, --fail-over-unsafe-pods", now: now, res: okRes, vol: std(pod("web-0", lostNode, hostPath)), nodes: notReady,
			cfg: func(c *Config) { c.FailOverUnsafePods = true }},
		{name: "must do nothing: no PersistentVolume for the resource", now: now, res: okRes, vol: Volume{}, nodes: notReady},
		{name: "must do nothing: claim not bound", now: now, res: okRes,
			vol: Volume{PV: pv(pvName, resName, claimName), PVC: pvc(claimName, ""), Pods: []*corev1.Pod{pod("web-0", lostNode)}}, nodes: notReady},
		{name: "must do nothing: connection name is not a Node", now: now, res: unknownNode, vol: std(pod("web-0", "peer")), nodes: nodes},
		{name: "force-io-failures: evict local Pods, not terminating or ignored ones", now: now, res: forceIO,
			vol: Volume{PV: pv(pvName, resName, claimName), PVC: pvc(claimName, pvName),
				Pods:        []*corev1.Pod{pod("web-0", self), pod("web-1", self, ignored), pod("web-2", self, terminating), pod("web-3", lostNode)},
				Attachments: []*storagev1.VolumeAttachment{attachment("csi-b", self)}}, nodes: nodes},
		{name: "suspended Primary, local Pod stuck terminating: force demote", now: now, res: suspended,
			vol: Volume{PV: pv(pvName, resName, claimName), PVC: pvc(claimName, pvName), Pods: []*corev1.Pod{pod("web-0", self, terminating)}}, nodes: nodes},
		{name: "suspended Primary, local Pod still running: no demotion", now: now, res: suspended,
			vol: Volume{PV: pv(pvName, resName, claimName), PVC: pvc(claimName, pvName), Pods: []*corev1.Pod{pod("web-0", self)}}, nodes: nodes},
		{name: "suspended Primary for less than the timeout: wait", now: now, res: suspendedShort,
			vol: Volume{PV: pv(pvName, resName, claimName), PVC: pvc(claimName, pvName), Pods: []*corev1.Pod{pod("web-0", self, terminating)}}, nodes: nodes},
	}
}

// TestDecisionCasesGolden: named cases with the DRBD state, actions,
// Events, notes and timers.
func TestDecisionCasesGolden(t *testing.T) {
	var b strings.Builder
	for _, c := range namedCases() {
		cfg := testConfig()
		if c.cfg != nil {
			c.cfg(&cfg)
		}
		d := DecideResource(cfg, c.now, c.res, c.vol, cluster(c.nodes...))
		fmt.Fprintf(&b, "== %s\n%s", c.name, formatDecision(d, c.now))
	}
	golden.Assert(t, golden.Path("decide", "cases.txt"), b.String())
}

// TestDecideNodeGolden: this node's own taints.
func TestDecideNodeGolden(t *testing.T) {
	now := t0.Add(time.Minute)
	lostQ := func(since time.Duration, policy string) ResourceState {
		r := resState(now, "Secondary", false, policy, connSpec{lostNode, "Connecting", "Unknown", since})
		r.NoQuorumSince = now.Add(-since)
		return r
	}
	fio := resState(now, "Primary", true, "majority")
	fio.ForceIOFailures = true
	healthy := resState(now, "Secondary", true, "majority", connSpec{lostNode, Connected, "Primary", 0})
	cases := []struct {
		name string
		res  []ResourceState
		node *corev1.Node
		cfg  func(*Config)
	}{
		{"all healthy, untainted: nothing", []ResourceState{healthy}, node(self, true), nil},
		{"quorum lost 10s: taint lost-quorum", []ResourceState{healthy, lostQ(10*time.Second, "majority")}, node(self, true), nil},
		{"quorum lost 1s: wait (a flap taints nothing)", []ResourceState{lostQ(time.Second, "majority")}, node(self, true), nil},
		{"quorum lost 1s, already tainted: keep the taint", []ResourceState{lostQ(time.Second, "majority")}, node(self, true, TaintLostQuorum), nil},
		{"no quorum but no quorum policy: nothing", []ResourceState{lostQ(time.Minute, "off")}, node(self, true), nil},
		{"quorum regained: untaint", []ResourceState{healthy}, node(self, true, TaintLostQuorum, "example.com/other"), nil},
		{"forcing I/O errors: taint force-io-error", []ResourceState{fio}, node(self, true), nil},
		{"no longer forcing I/O errors: untaint", []ResourceState{healthy}, node(self, true, TaintForceIOError), nil},
		{"both at once", []ResourceState{fio, lostQ(time.Minute, "majority")}, node(self, true), nil},
		{"taints disabled", []ResourceState{fio, lostQ(time.Minute, "majority")}, node(self, true), func(c *Config) { c.DisableNodeTaints = true }},
		{"own Node unknown", []ResourceState{fio}, nil, nil},
	}
	var b strings.Builder
	for _, c := range cases {
		cfg := testConfig()
		if c.cfg != nil {
			c.cfg(&cfg)
		}
		fmt.Fprintf(&b, "== %s\n%s", c.name, formatDecision(DecideNode(cfg, now, c.res, c.node), now))
	}
	golden.Assert(t, golden.Path("decide", "node.txt"), b.String())
}
