package lab_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/piraeusctl/piraeusctl/agent/drbd"
	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
	"github.com/piraeusctl/piraeusctl/hacontroller"
	"github.com/piraeusctl/piraeusctl/internal/kubetest"
	"github.com/piraeusctl/piraeusctl/internal/lab"
	"github.com/piraeusctl/piraeusctl/pipeline"
	"github.com/piraeusctl/piraeusctl/plan"
	"github.com/piraeusctl/piraeusctl/plan/placement"
)

// The HA scenario's guest paths, the port the guests reach the API server
// at (GuestForwardAddr), and its fail-over timeout.
const (
	haKubeconfig    = "/etc/piraeusctl/ha-controller.kubeconfig"
	haLog           = "/var/log/piraeusctl-ha-controller.log"
	haAPIServerPort = 6443
	haFailOver      = "1s"
	haNamespace     = "default"
)

// TestLabHAController is the HA controller end to end: `piraeusctl
// ha-controller` runs inside node-b on the real `drbdsetup events2` of DRBD
// 9, and reaches the kube-apiserver on the host through qemu's user
// network (a guestfwd to 127.0.0.1), with the token of the plan's
// ha-controller ServiceAccount and ClusterRole. node-a is Primary of
// pvc-ha, whose Pod web-0 and VolumeAttachment name node-a; node-c is the
// diskless tie-breaker that keeps quorum for node-b. node-a is powered off:
// the ha-controller on node-b taints node-a, evicts web-0 and deletes its
// VolumeAttachment, and once node-a's Node is NotReady deletes web-0 for
// good. The test measures each step from the DRBD event on node-b (its
// events2 timestamp of the lost connection) and from the power cut, and
// checks that nothing else was touched: web-1 on node-b (pvc-stay, which
// also lost its node-a replica) and a volume-less Pod on node-a stay.
func TestLabHAController(t *testing.T) {
	t.Parallel()
	needLab(t)
	start := time.Now()
	// envtest's chatter goes nowhere (as in TestLabController).
	ctrllog.SetLogger(logr.Discard())
	// The API server first: the guests' forward names its port, and it
	// stops after the VMs.
	kube := kubetest.Start(t)
	cfg := kube.Config(t)
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	kubeconfig := haControllerKubeconfig(t, cfg, cs)
	c := bootWithAgents(t, lab.Options{VMs: 3, MemoryMiB: 512,
		GuestForwards: []lab.GuestForward{{GuestPort: haAPIServerPort, HostPort: apiServerPort(t, cfg)}}})
	a, b := c.VMs[0], c.VMs[1]
	s := &replicaSet{c: c, vms: c.VMs}
	// As the Piraeus HA controller recommends: suspend I/O without quorum,
	// and a suspended Primary that finds newer data steps down on its own.
	for i, name := range []string{"pvc-ha", "pvc-stay"} {
		s.resources = append(s.resources, drbdRes{name: name, minor: 1010 + uint32(i), port: 7010 + uint32(i), mib: 32,
			tieBreaker: c.VMs[2].Name, net: slowNet, quorum: majority(agentv1.OnNoQuorum_ON_NO_QUORUM_SUSPEND_IO),
			options: map[string]string{"on-suspended-primary-outdated": "force-secondary"}})
	}
	ha, stay := s.res("pvc-ha"), s.res("pvc-stay")
	timed(t, "converge pvc-ha and pvc-stay", func() { s.converge(t) })
	for _, r := range s.resources {
		s.waitInSync(t, r.name, 2*time.Minute)
	}
	drbdadm(t, a, "primary", ha.name)
	acked := writePattern(t, a, drbdDev(ha.minor), 4)
	drbdadm(t, b, "primary", stay.name)

	createLabNodes(t, labKubeClient(t, cfg), c.VMs)
	k := &haObjects{t: t, c: cs}
	k.volume(ha.name, "data-web-0")
	k.volume(stay.name, "data-web-1")
	k.pod("web-0", a.Name, "data-web-0")
	k.pod("web-1", b.Name, "data-web-1")
	k.pod("plain-0", a.Name, "")
	k.attachment("csi-ha-node-a", ha.name, a.Name)
	k.attachment("csi-stay-node-b", stay.name, b.Name)

	timed(t, "ha-controller in node-b synced", func() { startHAController(t, b, kubeconfig) })
	// Healthy: nothing to do.
	time.Sleep(3 * time.Second)
	k.untouched(a.Name, b.Name)
	assert.NotContains(t, k.taints(a.Name), hacontroller.TaintLostQuorum, "node-a tainted while healthy")

	events := startEvents(t, b, "ha-survivor")
	offset := guestClockOffset(t, b)
	w := watchFailOver(t, cs, a.Name, "web-0", "csi-ha-node-a")
	cut := time.Now()
	a.Stop()
	evicted := w.wait(t, "web-0 evicted (terminating) or gone", func(o *failOverTimes) time.Time { return o.terminating })
	vaGone := w.wait(t, "VolumeAttachment csi-ha-node-a gone", func(o *failOverTimes) time.Time { return o.attachmentGone })
	tainted := w.wait(t, "node-a tainted "+hacontroller.TaintLostQuorum, func(o *failOverTimes) time.Time { return o.tainted })
	// The kubelet of node-a is gone with it: the Node goes NotReady once
	// kube-controller-manager's node-monitor-grace-period (40 s) passes.
	// There is none here, so the test does what it would do, and the
	// ha-controller turns its eviction into a delete.
	notReady := time.Now()
	k.setReady(a.Name, false)
	podGone := w.wait(t, "web-0 gone", func(o *failOverTimes) time.Time { return o.podGone })

	out := events.stop(t)
	lost := connectionLost(t, out, ha.name, a.Name)
	require.False(t, lost.IsZero(), "node-b's events2 shows no lost connection of %s to node-a:\n%s", ha.name, out)
	record(t, "events2-drbd9-ha-survivor.txt", out)
	lostHost := lost.Add(-offset.d)
	t.Logf("ha-controller (fail-over timeout %s): power cut → DRBD on node-b reports node-a lost (events2 %s): %s",
		haFailOver, lost.Format(time.RFC3339Nano), lostHost.Sub(cut).Round(10*time.Millisecond))
	for _, f := range []struct {
		what string
		at   time.Time
	}{{"node-a tainted", tainted}, {"web-0 evicted (terminating)", evicted}, {"VolumeAttachment gone", vaGone}} {
		t.Logf("timing: ha-controller: DRBD event → %s: %s (power cut → %s)", f.what,
			f.at.Sub(lostHost).Round(10*time.Millisecond), f.at.Sub(cut).Round(10*time.Millisecond))
	}
	t.Logf("timing: ha-controller: Node NotReady → web-0 gone (grace-0 delete): %s; DRBD event → web-0 gone, with the test's NotReady: %s",
		podGone.Sub(notReady).Round(10*time.Millisecond), podGone.Sub(lostHost).Round(10*time.Millisecond))
	t.Logf("guest clock offset of node-b: %s (±%s)", offset.d.Round(time.Millisecond), offset.err.Round(time.Millisecond))

	// Nothing else was touched.
	k.untouched("", b.Name)
	k.mustExist("plain-0")
	assert.NotContains(t, k.taints(b.Name), hacontroller.TaintLostQuorum, "node-b (the survivor) tainted")
	// node-b holds what node-a acknowledged: web-0 can start there.
	handOver(t, nil, b, ha, 4, acked)
	t.Logf("ha-controller decisions on node-b:\n%s", sh(t, b, "grep -E 'action done|decision' "+haLog+" || true"))
	t.Logf("timing: ha-controller VMs, all with boot: %s", time.Since(start).Round(100*time.Millisecond))
}

// apiServerPort is the port of the test API server on 127.0.0.1.
func apiServerPort(t *testing.T, cfg *rest.Config) int {
	t.Helper()
	u, err := url.Parse(cfg.Host)
	require.NoError(t, err)
	host, p, err := net.SplitHostPort(u.Host)
	require.NoError(t, err)
	require.True(t, net.ParseIP(host).IsLoopback(), "the test API server listens on %s, not loopback", host)
	port, err := strconv.Atoi(p)
	require.NoError(t, err)
	return port
}

// haControllerKubeconfig creates the plan's ha-controller ServiceAccount,
// ClusterRole and ClusterRoleBinding (rendered from testdata/minimal) and
// returns a kubeconfig with a token of that ServiceAccount for the API
// server at GuestForwardAddr. It first checks on the host that the token
// has the role's rights and no more.
func haControllerKubeconfig(t *testing.T, cfg *rest.Config, cs kubernetes.Interface) []byte {
	t.Helper()
	ctx := t.Context()
	res, err := pipeline.Run(ctx, pipeline.Options{Files: []string{"../../testdata/minimal/input"},
		Build: plan.BuildOptions{Placement: placement.DefaultOptions()}})
	require.NoError(t, err, "render the plan's ha-controller identity")
	dyn := labKubeClient(t, cfg)
	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: plan.DefaultNamespace}}, metav1.CreateOptions{})
	require.NoError(t, err)
	sa := ""
	for _, o := range res.Plan.Objects {
		if o.GetLabels()["app.kubernetes.io/component"] != "ha-controller" {
			continue
		}
		switch o.GetKind() {
		case "ServiceAccount":
			sa = o.GetName()
		case "ClusterRole", "ClusterRoleBinding":
		default:
			continue
		}
		require.NoError(t, dyn.Create(ctx, o.DeepCopy()), "create %s %s", o.GetKind(), o.GetName())
	}
	require.NotEmpty(t, sa, "the plan has no ha-controller ServiceAccount")
	exp := int64(2 * 60 * 60)
	tok, err := cs.CoreV1().ServiceAccounts(plan.DefaultNamespace).CreateToken(ctx, sa,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	require.NoError(t, err, "token of ServiceAccount %s", sa)

	// The token on the host: Pods yes, Secrets no.
	onHost := rest.AnonymousClientConfig(cfg)
	onHost.BearerToken = tok.Status.Token
	hc, err := kubernetes.NewForConfig(onHost)
	require.NoError(t, err)
	_, err = hc.CoreV1().Pods("").List(ctx, metav1.ListOptions{Limit: 1})
	require.NoError(t, err, "the ha-controller's token cannot list Pods")
	_, err = hc.CoreV1().Secrets(plan.DefaultNamespace).List(ctx, metav1.ListOptions{Limit: 1})
	require.True(t, apierrors.IsForbidden(err), "the ha-controller's token lists Secrets (err %v): it must have the plan's role, not admin", err)

	// The serving certificate names localhost and 127.0.0.1, not the
	// guests' forward address.
	serverName := cfg.ServerName
	if serverName == "" {
		serverName = "localhost"
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["lab"] = &clientcmdapi.Cluster{Server: fmt.Sprintf("https://%s:%d", lab.GuestForwardAddr, haAPIServerPort),
		CertificateAuthorityData: cfg.CAData, TLSServerName: serverName}
	kc.AuthInfos[sa] = &clientcmdapi.AuthInfo{Token: tok.Status.Token}
	kc.Contexts["lab"] = &clientcmdapi.Context{Cluster: "lab", AuthInfo: sa, Namespace: plan.DefaultNamespace}
	kc.CurrentContext = "lab"
	data, err := clientcmd.Write(*kc)
	require.NoError(t, err)
	return data
}

// startHAController starts `piraeusctl ha-controller` in vm (output to
// haLog and the console) and waits until it has synced its caches and read
// DRBD's initial state.
func startHAController(t *testing.T, vm *labVM, kubeconfig []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	require.NoError(t, vm.WriteFile(ctx, haKubeconfig, kubeconfig))
	args := []string{"piraeusctl", "ha-controller", "--node-name", vm.Name, "--kubeconfig", haKubeconfig,
		"--fail-over-timeout", haFailOver, "--health-bind-address=", "--log-level", "debug"}
	sh(t, vm, fmt.Sprintf(`(%s 2>&1 | tee -a %s >/dev/console) </dev/null >/dev/null 2>&1 &`, strings.Join(args, " "), haLog))
	waitFor(t, 3*time.Minute, "the ha-controller in "+vm.Name+" to sync its caches and read events2", func() (bool, string) {
		out := sh(t, vm, fmt.Sprintf(`grep -q 'ha-controller caches synced' %[1]s && grep -q 'events2 initial state read' %[1]s && echo ready; tail -n 5 %[1]s`, haLog))
		return strings.HasPrefix(out, "ready"), out
	})
}

// clockOffset is how far a guest's clock is ahead of the host's, and the
// uncertainty (half the round trip of the best sample).
type clockOffset struct{ d, err time.Duration }

// guestClockOffset samples the guest's clock against the host's a few
// times and keeps the sample with the shortest round trip. The guest's
// clock is read as DRBD's events2 reads it (busybox date has no
// sub-second format): the timestamp of `drbdsetup events2 --now`.
func guestClockOffset(t *testing.T, vm *labVM) clockOffset {
	t.Helper()
	best := clockOffset{err: time.Hour}
	for range 5 {
		before := time.Now()
		out := sh(t, vm, "drbdsetup events2 --now --timestamps | tail -n 1")
		after := time.Now()
		ev, err := drbd.ParseEvent(strings.TrimSpace(out))
		require.NoError(t, err, "events2 line %q", out)
		require.False(t, ev.Time.IsZero(), "events2 line without timestamp: %q", out)
		mid := before.Add(after.Sub(before) / 2)
		if half := after.Sub(before) / 2; half < best.err {
			best = clockOffset{d: ev.Time.Sub(mid), err: half}
		}
	}
	return best
}

// haObjects creates and checks the scenario's Kubernetes objects, as the
// hacontroller package's API server tests build them: Pods owned by a
// StatefulSet, bound claims, VolumeAttachments of the CSI driver.
type haObjects struct {
	t *testing.T
	c kubernetes.Interface
}

// volume creates the PV of DRBD resource res (volume handle res) bound to
// the claim.
func (k *haObjects) volume(res, claim string) {
	ctx := k.t.Context()
	fs := corev1.PersistentVolumeFilesystem
	size := corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("32Mi")}
	pvc, err := k.c.CoreV1().PersistentVolumeClaims(haNamespace).Create(ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: claim},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			VolumeName: res, VolumeMode: &fs, Resources: corev1.VolumeResourceRequirements{Requests: size}}}, metav1.CreateOptions{})
	require.NoError(k.t, err)
	_, err = k.c.CoreV1().PersistentVolumes().Create(ctx, &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: res},
		Spec: corev1.PersistentVolumeSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, Capacity: size, VolumeMode: &fs,
			ClaimRef: &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: haNamespace, Name: claim, UID: pvc.UID},
			PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{
				Driver: hacontroller.CSIDriver, VolumeHandle: res}}}}, metav1.CreateOptions{})
	require.NoError(k.t, err)
	pvc.Status.Phase = corev1.ClaimBound
	_, err = k.c.CoreV1().PersistentVolumeClaims(haNamespace).UpdateStatus(ctx, pvc, metav1.UpdateOptions{})
	require.NoError(k.t, err)
}

// pod creates a Running Pod of a StatefulSet on nodeName, with the claim
// as its volume (none if empty).
func (k *haObjects) pod(name, nodeName, claim string) {
	ctx := k.t.Context()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "web"},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "web", UID: "6c0f6f4e-4a37-4d3b-9d41-000000000015"}}},
		Spec: corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{{Name: "app", Image: "registry.invalid/app"}}}}
	if claim != "" {
		p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}}
	}
	created, err := k.c.CoreV1().Pods(haNamespace).Create(ctx, p, metav1.CreateOptions{})
	require.NoError(k.t, err)
	created.Status.Phase = corev1.PodRunning
	_, err = k.c.CoreV1().Pods(haNamespace).UpdateStatus(ctx, created, metav1.UpdateOptions{})
	require.NoError(k.t, err)
}

func (k *haObjects) attachment(name, pv, nodeName string) {
	_, err := k.c.StorageV1().VolumeAttachments().Create(k.t.Context(), &storagev1.VolumeAttachment{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: storagev1.VolumeAttachmentSpec{Attacher: hacontroller.CSIDriver, NodeName: nodeName,
			Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: &pv}}}, metav1.CreateOptions{})
	require.NoError(k.t, err)
}

// setReady sets the Node's Ready condition as its kubelet (True) or the
// node lifecycle controller (Unknown) would.
func (k *haObjects) setReady(name string, ready bool) {
	ctx := k.t.Context()
	n, err := k.c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	require.NoError(k.t, err)
	st, reason := corev1.ConditionTrue, "KubeletReady"
	if !ready {
		st, reason = corev1.ConditionUnknown, "NodeStatusUnknown"
	}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: st, Reason: reason,
		LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
	_, err = k.c.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
	require.NoError(k.t, err)
}

// mustExist checks that Pod name exists and is not terminating.
func (k *haObjects) mustExist(name string) {
	p, err := k.c.CoreV1().Pods(haNamespace).Get(k.t.Context(), name, metav1.GetOptions{})
	if assert.NoError(k.t, err, "Pod %s", name) {
		assert.Nil(k.t, p.DeletionTimestamp, "Pod %s is terminating", name)
	}
}

// untouched checks that the Pods and VolumeAttachments of the nodes given
// (by node name; "" for none) exist and are not terminating.
func (k *haObjects) untouched(a, b string) {
	ctx := k.t.Context()
	if a != "" {
		k.mustExist("web-0")
		k.mustExist("plain-0")
		_, err := k.c.StorageV1().VolumeAttachments().Get(ctx, "csi-ha-node-a", metav1.GetOptions{})
		assert.NoError(k.t, err, "VolumeAttachment csi-ha-node-a")
	}
	if b != "" {
		k.mustExist("web-1")
		va, err := k.c.StorageV1().VolumeAttachments().Get(ctx, "csi-stay-node-b", metav1.GetOptions{})
		if assert.NoError(k.t, err, "VolumeAttachment csi-stay-node-b") {
			assert.Nil(k.t, va.DeletionTimestamp, "VolumeAttachment csi-stay-node-b is being deleted")
		}
	}
}

// taints returns the keys of the Node's taints.
func (k *haObjects) taints(name string) []string {
	n, err := k.c.CoreV1().Nodes().Get(k.t.Context(), name, metav1.GetOptions{})
	require.NoError(k.t, err)
	var keys []string
	for _, t := range n.Spec.Taints {
		keys = append(keys, t.Key)
	}
	return keys
}

// failOverTimes are the host times at which the test first saw each step
// of the fail-over on the API server.
type failOverTimes struct {
	terminating, podGone, attachmentGone, tainted time.Time
}

// failOverWatch polls the API server every 100 ms from the power cut on
// (a poll, not a watch, so that nothing it records depends on a watch's
// resumption) and records when each step is first seen.
type failOverWatch struct {
	mu  sync.Mutex
	got failOverTimes
}

func watchFailOver(t *testing.T, cs kubernetes.Interface, nodeName, pod, attachment string) *failOverWatch {
	w := &failOverWatch{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			w.poll(ctx, cs, nodeName, pod, attachment)
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return w
}

func (w *failOverWatch) poll(ctx context.Context, cs kubernetes.Interface, nodeName, pod, attachment string) {
	now := time.Now()
	p, err := cs.CoreV1().Pods(haNamespace).Get(ctx, pod, metav1.GetOptions{})
	podGone := apierrors.IsNotFound(err)
	terminating := podGone || (err == nil && p.DeletionTimestamp != nil)
	_, err = cs.StorageV1().VolumeAttachments().Get(ctx, attachment, metav1.GetOptions{})
	vaGone := apierrors.IsNotFound(err)
	n, err := cs.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
	tainted := false
	if err == nil {
		for _, t := range n.Spec.Taints {
			tainted = tainted || t.Key == hacontroller.TaintLostQuorum
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range []struct {
		seen bool
		at   *time.Time
	}{{terminating, &w.got.terminating}, {podGone, &w.got.podGone}, {vaGone, &w.got.attachmentGone}, {tainted, &w.got.tainted}} {
		if s.seen && s.at.IsZero() {
			*s.at = now
		}
	}
}

// wait waits (generously: the VMs are emulated on a shared host) until the
// step that field picks was seen, and returns when.
func (w *failOverWatch) wait(t *testing.T, what string, field func(*failOverTimes) time.Time) time.Time {
	t.Helper()
	var at time.Time
	waitFor(t, 5*time.Minute, what, func() (bool, string) {
		w.mu.Lock()
		defer w.mu.Unlock()
		at = field(&w.got)
		return !at.IsZero(), fmt.Sprintf("%+v", w.got)
	})
	return at
}

// connectionLost is the events2 time at which the connection of resource
// res to peer first left Connected in a capture.
func connectionLost(t *testing.T, out, res, peer string) time.Time {
	var at time.Time
	replay(t, out, func(ev drbd.Event, _ map[string]drbd.Resource) {
		if at.IsZero() && ev.Object == "connection" && ev.Props["name"] == res && ev.Props["conn-name"] == peer &&
			ev.Props["connection"] != "" && ev.Props["connection"] != "Connected" {
			at = ev.Time
		}
	})
	return at
}
