package hacontroller

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/hostexec"
	"github.com/piraeusctl/piraeusctl/internal/kubetest"
)

var kube kubetest.Env

func TestMain(m *testing.M) { os.Exit(kube.Main(m)) }

// pipeSource is an events2 stream the test writes into; closing it breaks
// the stream, and the supervisor's next Open gets a fresh one.
type pipeSource struct {
	mu     sync.Mutex
	w      *io.PipeWriter
	opened chan struct{}
}

func newPipeSource() *pipeSource { return &pipeSource{opened: make(chan struct{}, 8)} }

func (p *pipeSource) Open(ctx context.Context) (io.ReadCloser, error) {
	r, w := io.Pipe()
	p.mu.Lock()
	p.w = w
	p.mu.Unlock()
	p.opened <- struct{}{}
	return r, nil
}

func (p *pipeSource) String() string { return "test pipe" }

func (p *pipeSource) feed(t testing.TB, lines ...string) {
	t.Helper()
	p.mu.Lock()
	w := p.w
	p.mu.Unlock()
	_, err := io.WriteString(w, strings.Join(lines, "\n")+"\n")
	require.NoError(t, err, "feed events2")
}

func (p *pipeSource) breakStream() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.w.CloseWithError(io.ErrUnexpectedEOF)
}

// showHost answers `drbdsetup show --json` with quorum majority for every
// resource it is told of, and records everything.
type showHost struct {
	mu        sync.Mutex
	resources []string
	rec       hostexec.Recorder
}

func newShowHost(res ...string) *showHost {
	h := &showHost{resources: res}
	h.rec.Next = showAnswer{h}
	return h
}

func (h *showHost) add(res string) {
	h.mu.Lock()
	h.resources = append(h.resources, res)
	h.mu.Unlock()
}

func (h *showHost) Run(ctx context.Context, cmd hostexec.Cmd) (hostexec.Result, error) {
	return h.rec.Run(ctx, cmd)
}

type showAnswer struct{ h *showHost }

func (a showAnswer) Run(_ context.Context, cmd hostexec.Cmd) (hostexec.Result, error) {
	if cmd.Line() != "drbdsetup show --json" {
		return hostexec.Result{}, nil
	}
	a.h.mu.Lock()
	defer a.h.mu.Unlock()
	var parts []string
	for _, r := range a.h.resources {
		parts = append(parts, fmt.Sprintf(`{"resource": %q, "options": {"quorum": "majority", "on-no-quorum": "suspend-io"}}`, r))
	}
	return hostexec.Result{Stdout: []byte("[" + strings.Join(parts, ",") + "]")}, nil
}

// writeLog records the API writes a client makes (method and path).
type writeLog struct {
	mu     sync.Mutex
	writes []string
	notify func(method, path string, status int)
}

func (l *writeLog) wrap(cfg *rest.Config) *rest.Config {
	out := rest.CopyConfig(cfg)
	out.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			resp, err := rt.RoundTrip(req)
			if req.Method != http.MethodGet {
				l.mu.Lock()
				l.writes = append(l.writes, fmt.Sprintf("%s %s", req.Method, req.URL.Path))
				fn := l.notify
				l.mu.Unlock()
				if fn != nil {
					status := 0
					if resp != nil {
						status = resp.StatusCode
					}
					fn(req.Method, req.URL.Path, status)
				}
			}
			return resp, err
		})
	})
	return out
}

// objectWrites are the writes other than Events.
func (l *writeLog) objectWrites() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, w := range l.writes {
		if !strings.Contains(w, "/events") {
			out = append(out, w)
		}
	}
	return out
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// cluster objects ---------------------------------------------------------

type kubeFixture struct {
	t  testing.TB
	c  kubernetes.Interface
	ns string
}

func newKubeFixture(t testing.TB, cfg *rest.Config, ns string) *kubeFixture {
	t.Helper()
	c := kubernetes.NewForConfigOrDie(cfg)
	f := &kubeFixture{t: t, c: c, ns: ns}
	f.must(c.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}))
	f.must(c.CoreV1().ServiceAccounts(ns).Create(t.Context(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}))
	return f
}

func (f *kubeFixture) must(_ any, err error) {
	f.t.Helper()
	require.False(f.t, err != nil && !apierrors.IsAlreadyExists(err), "%v", err)
}

func (f *kubeFixture) node(name string, ready bool) {
	f.t.Helper()
	ctx := f.t.Context()
	n, err := f.c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		n, err = f.c.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	}
	require.NoError(f.t, err)
	st := corev1.ConditionTrue
	if !ready {
		st = corev1.ConditionUnknown
	}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: st, LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
	f.must(f.c.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}))
}

// volume creates a bound PV (volume handle res) and PVC claim.
func (f *kubeFixture) volume(res, claim string) {
	f.t.Helper()
	ctx := f.t.Context()
	fs := corev1.PersistentVolumeFilesystem
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: claim},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			VolumeName: res, VolumeMode: &fs,
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}
	created, err := f.c.CoreV1().PersistentVolumeClaims(f.ns).Create(ctx, pvc, metav1.CreateOptions{})
	require.NoError(f.t, err)
	pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: res},
		Spec: corev1.PersistentVolumeSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}, VolumeMode: &fs,
			ClaimRef:               &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: f.ns, Name: claim, UID: created.UID},
			PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: CSIDriver, VolumeHandle: res}}}}
	f.must(f.c.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}))
	created.Status.Phase = corev1.ClaimBound
	f.must(f.c.CoreV1().PersistentVolumeClaims(f.ns).UpdateStatus(ctx, created, metav1.UpdateOptions{}))
}

// pod creates a running Pod on nodeName using claim (none if empty).
func (f *kubeFixture) pod(name, nodeName, claim string, mod ...func(*corev1.Pod)) *corev1.Pod {
	f.t.Helper()
	ctx := f.t.Context()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: name, Labels: map[string]string{"app": "web"},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "web", UID: "0d9ed1a6-8a53-4b37-9a8e-000000000001"}}},
		Spec: corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{{Name: "app", Image: "registry.invalid/app"}}}}
	if claim != "" {
		p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}}
	}
	for _, m := range mod {
		m(p)
	}
	created, err := f.c.CoreV1().Pods(f.ns).Create(ctx, p, metav1.CreateOptions{})
	require.NoError(f.t, err)
	created.Status.Phase = corev1.PodRunning
	created, err = f.c.CoreV1().Pods(f.ns).UpdateStatus(ctx, created, metav1.UpdateOptions{})
	require.NoError(f.t, err)
	return created
}

func (f *kubeFixture) attachment(name, pvName, nodeName string) {
	f.t.Helper()
	f.must(f.c.StorageV1().VolumeAttachments().Create(f.t.Context(), &storagev1.VolumeAttachment{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: storagev1.VolumeAttachmentSpec{Attacher: CSIDriver, NodeName: nodeName,
			Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: &pvName}}}, metav1.CreateOptions{}))
}

// startController runs a controller for node with its own events2 pipe.
func startController(t testing.TB, cfg *rest.Config, node string, timeout time.Duration, host hostexec.Executor) (*Controller, *pipeSource) {
	t.Helper()
	src := newPipeSource()
	c, err := New(Options{
		Config: Config{NodeName: node, FailOverTimeout: timeout, GracePeriodSeconds: 10},
		Client: kubernetes.NewForConfigOrDie(cfg), Source: src, Exec: host, OperationTimeout: 10 * time.Second,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})).With("node", node),
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-src.opened:
	case <-time.After(60 * time.Second):
		require.FailNow(t, "controller did not open its events2 stream (informers not synced?)")
	}
	return c, src
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// eventually waits up to 30 s for cond.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		require.False(t, time.Now().After(deadline), "timed out waiting for %s", what)
		time.Sleep(20 * time.Millisecond)
	}
}

func dumpLines(res, peer string, peerRole string) []string {
	return []string{
		"exists resource name:" + res + " role:Secondary suspended:no force-io-failures:no may_promote:no promotion_score:10102",
		"exists connection name:" + res + " peer-node-id:0 conn-name:" + peer + " connection:Connected role:" + peerRole,
		"exists connection name:" + res + " peer-node-id:2 conn-name:node-c connection:Connected role:Secondary",
		"exists device name:" + res + " volume:0 minor:1000 disk:UpToDate client:no quorum:yes",
	}
}

func lossLines(res, peer string) []string {
	return []string{
		"change connection name:" + res + " peer-node-id:0 conn-name:" + peer + " connection:NetworkFailure role:Unknown",
		"change peer-device name:" + res + " peer-node-id:0 conn-name:" + peer + " volume:0 replication:Off peer-disk:DUnknown",
		"change connection name:" + res + " peer-node-id:0 conn-name:" + peer + " connection:Connecting",
	}
}

func podState(t testing.TB, c kubernetes.Interface, ns, name string) string {
	p, err := c.CoreV1().Pods(ns).Get(t.Context(), name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return "gone"
	case err != nil:
		require.NoError(t, err)
	case p.DeletionTimestamp != nil:
		return "terminating"
	}
	return "running"
}

func exists(t testing.TB, get func() error) bool {
	err := get()
	require.False(t, err != nil && !apierrors.IsNotFound(err), "%v", err)
	return err == nil
}

func taintKeysOf(t testing.TB, c kubernetes.Interface, node string) []string {
	n, err := c.CoreV1().Nodes().Get(t.Context(), node, metav1.GetOptions{})
	require.NoError(t, err)
	// The API server itself adds node.kubernetes.io/not-ready to new Nodes.
	return slices.DeleteFunc(taintKeys(n), func(k string) bool { return !strings.HasPrefix(k, "drbd.linbit.com/") })
}

func eventReasons(t testing.TB, c kubernetes.Interface, ns string) []string {
	list, err := c.EventsV1().Events(ns).List(t.Context(), metav1.ListOptions{})
	require.NoError(t, err)
	var out []string
	for _, e := range list.Items {
		out = append(out, fmt.Sprintf("%s/%s %s/%s", e.Regarding.Kind, e.Regarding.Name, e.Reason, e.Action))
	}
	slices.Sort(out)
	return slices.Compact(out)
}
