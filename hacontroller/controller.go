package hacontroller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"

	"github.com/piraeusctl/piraeusctl/agent/drbd"
	"github.com/piraeusctl/piraeusctl/hostexec"
)

// Options configure a Controller.
type Options struct {
	Config
	// Client talks to the API server.
	Client kubernetes.Interface
	// Source is the events2 stream.
	Source Source
	// Exec runs `drbdsetup show --json` and `drbdsetup secondary --force`.
	Exec hostexec.Executor
	// ResyncInterval of the informers (0: none).
	ResyncInterval time.Duration
	// OperationTimeout bounds each API request and host command.
	OperationTimeout time.Duration
	// Workers process resources in parallel (default 2).
	Workers int
	Logger  *slog.Logger
	Metrics *Metrics
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

const (
	nodeKey        = "node"
	resPrefix      = "res/"
	indexHandle    = "volume-handle"
	indexClaim     = "claim"
	indexPV        = "pv"
	memoryLifetime = 10 * time.Minute
)

// Controller runs the HA controller of one node.
type Controller struct {
	opts    Options
	log     *slog.Logger
	metrics *Metrics
	tracker *Tracker
	exec    hostexec.Executor

	factory                     informers.SharedInformerFactory
	pods, pvs, pvcs, vas, nodes cache.SharedIndexInformer
	queue                       workqueue.TypedRateLimitingInterface[string]
	broadcaster                 events.EventBroadcaster
	recorder                    events.EventRecorder
	optionsRequests             chan struct{}

	mu       sync.Mutex
	done     map[string]doneAction // action key -> what it was done at
	queuedAt map[string]time.Time  // key -> when it was first queued since processed
	logged   map[string]string     // subject -> last decision logged at Info
}

type doneAction struct {
	version string
	at      time.Time
}

// New builds a controller; Run starts it.
func New(opts Options) (*Controller, error) {
	if opts.NodeName == "" {
		return nil, errors.New("ha-controller: no node name (set --node-name or NODE_NAME)")
	}
	if opts.Client == nil || opts.Source == nil || opts.Exec == nil {
		return nil, errors.New("ha-controller: Client, Source and Exec are required")
	}
	if opts.Workers <= 0 {
		opts.Workers = 2
	}
	if opts.OperationTimeout <= 0 {
		opts.OperationTimeout = time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics()
	}
	c := &Controller{
		opts: opts, log: opts.Logger, metrics: opts.Metrics, tracker: NewTracker(), exec: opts.Exec,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](200*time.Millisecond, 30*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "ha-controller"}),
		optionsRequests: make(chan struct{}, 1),
		done:            map[string]doneAction{},
		queuedAt:        map[string]time.Time{},
		logged:          map[string]string{},
	}
	if err := c.setupInformers(); err != nil {
		return nil, err
	}
	c.broadcaster = events.NewBroadcaster(&events.EventSinkImpl{Interface: opts.Client.EventsV1()})
	c.recorder = c.broadcaster.NewRecorder(scheme.Scheme, EventsReporter)
	return c, nil
}

func (c *Controller) now() time.Time {
	if c.opts.Now != nil {
		return c.opts.Now()
	}
	return time.Now()
}

// Tracker is the DRBD state the controller follows.
func (c *Controller) Tracker() *Tracker { return c.tracker }

func (c *Controller) setupInformers() error {
	c.factory = informers.NewSharedInformerFactory(c.opts.Client, c.opts.ResyncInterval)
	c.pods = c.factory.Core().V1().Pods().Informer()
	c.pvs = c.factory.Core().V1().PersistentVolumes().Informer()
	c.pvcs = c.factory.Core().V1().PersistentVolumeClaims().Informer()
	c.vas = c.factory.Storage().V1().VolumeAttachments().Informer()
	c.nodes = c.factory.Core().V1().Nodes().Informer()
	if err := c.pods.SetTransform(slimPod); err != nil {
		return fmt.Errorf("pod informer: %w", err)
	}
	errs := []error{
		c.pvs.AddIndexers(cache.Indexers{
			indexHandle: func(obj any) ([]string, error) {
				pv := obj.(*corev1.PersistentVolume)
				if pv.Spec.CSI == nil || pv.Spec.CSI.Driver != CSIDriver {
					return nil, nil
				}
				return []string{pv.Spec.CSI.VolumeHandle}, nil
			},
			indexClaim: func(obj any) ([]string, error) {
				ref := obj.(*corev1.PersistentVolume).Spec.ClaimRef
				if ref == nil {
					return nil, nil
				}
				return []string{ref.Namespace + "/" + ref.Name}, nil
			},
		}),
		c.pods.AddIndexers(cache.Indexers{indexClaim: func(obj any) ([]string, error) {
			return podClaims(obj.(*corev1.Pod)), nil
		}}),
		c.vas.AddIndexers(cache.Indexers{indexPV: func(obj any) ([]string, error) {
			if n := obj.(*storagev1.VolumeAttachment).Spec.Source.PersistentVolumeName; n != nil {
				return []string{*n}, nil
			}
			return nil, nil
		}}),
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("informer indexes: %w", err)
	}
	handlers := []struct {
		inf cache.SharedIndexInformer
		fn  func(any) []string
	}{
		{c.pods, func(o any) []string { return c.claimResources(o.(*corev1.Pod).Namespace, podClaims(o.(*corev1.Pod))) }},
		{c.pvs, func(o any) []string { return pvResources(o.(*corev1.PersistentVolume)) }},
		{c.pvcs, func(o any) []string {
			p := o.(*corev1.PersistentVolumeClaim)
			return c.claimResources(p.Namespace, []string{p.Namespace + "/" + p.Name})
		}},
		{c.vas, func(o any) []string { return c.attachmentResources(o.(*storagev1.VolumeAttachment)) }},
	}
	for _, h := range handlers {
		fn := h.fn
		if _, err := h.inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { c.enqueueResources(fn(o)) },
			UpdateFunc: func(_, o any) { c.enqueueResources(fn(o)) },
			DeleteFunc: func(o any) {
				if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
					o = t.Obj
				}
				c.enqueueResources(fn(o))
			},
		}); err != nil {
			return fmt.Errorf("event handler: %w", err)
		}
	}
	_, err := c.nodes.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(o any) { c.nodeChanged(nil, o.(*corev1.Node)) },
		UpdateFunc: func(old, o any) {
			c.nodeChanged(old.(*corev1.Node), o.(*corev1.Node))
		},
	})
	return err
}

// slimPod keeps what decisions read, so thousands of Pods cost little memory.
func slimPod(obj any) (any, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	var ann map[string]string
	if v, ok := p.Annotations[AnnotationIgnoreFailOver]; ok {
		ann = map[string]string{AnnotationIgnoreFailOver: v}
	}
	return &corev1.Pod{
		TypeMeta: p.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, UID: p.UID, ResourceVersion: p.ResourceVersion,
			Annotations: ann, OwnerReferences: p.OwnerReferences, DeletionTimestamp: p.DeletionTimestamp},
		Spec:   corev1.PodSpec{NodeName: p.Spec.NodeName, Volumes: p.Spec.Volumes},
		Status: corev1.PodStatus{Phase: p.Status.Phase},
	}, nil
}

func podClaims(p *corev1.Pod) []string {
	var out []string
	for _, v := range p.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			out = append(out, p.Namespace+"/"+v.PersistentVolumeClaim.ClaimName)
		}
	}
	return out
}

func pvResources(pv *corev1.PersistentVolume) []string {
	if pv.Spec.CSI == nil || pv.Spec.CSI.Driver != CSIDriver {
		return nil
	}
	return []string{pv.Spec.CSI.VolumeHandle}
}

func (c *Controller) claimResources(_ string, claims []string) []string {
	var out []string
	for _, claim := range claims {
		objs, _ := c.pvs.GetIndexer().ByIndex(indexClaim, claim)
		for _, o := range objs {
			out = append(out, pvResources(o.(*corev1.PersistentVolume))...)
		}
	}
	return out
}

func (c *Controller) attachmentResources(va *storagev1.VolumeAttachment) []string {
	if va.Spec.Source.PersistentVolumeName == nil {
		return nil
	}
	o, ok, _ := c.pvs.GetStore().GetByKey(*va.Spec.Source.PersistentVolumeName)
	if !ok {
		return nil
	}
	return pvResources(o.(*corev1.PersistentVolume))
}

// nodeChanged re-decides when a Node's readiness or taints change: its
// own taints for this node, every resource for the others.
func (c *Controller) nodeChanged(old, n *corev1.Node) {
	if old != nil && nodeReady(old) == nodeReady(n) && slices.Equal(taintKeys(old), taintKeys(n)) {
		return
	}
	if n.Name == c.opts.NodeName {
		c.enqueue(nodeKey)
	}
	c.enqueueResources(c.tracker.Names())
}

func taintKeys(n *corev1.Node) []string {
	var out []string
	for _, t := range n.Spec.Taints {
		out = append(out, t.Key+":"+string(t.Effect))
	}
	return out
}

func (c *Controller) enqueueResources(names []string) {
	for _, n := range names {
		c.enqueue(resPrefix + n)
	}
}

func (c *Controller) enqueue(key string) {
	c.mu.Lock()
	if _, ok := c.queuedAt[key]; !ok {
		c.queuedAt[key] = c.now()
	}
	c.mu.Unlock()
	c.queue.Add(key)
}

// onChange is the supervisor's callback for every events2 line.
func (c *Controller) onChange(ch Change, _ time.Time) {
	if ch.OptionsStale {
		select {
		case c.optionsRequests <- struct{}{}:
		default:
		}
	}
	if ch.Synced {
		c.enqueueResources(c.tracker.Names())
	} else if ch.Resource != "" {
		c.enqueue(resPrefix + ch.Resource)
	}
	c.enqueue(nodeKey)
}

// Run starts the informers, the events2 stream and the workers, and
// returns when ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	c.log.Info("ha-controller starting", "node", c.opts.NodeName, "source", c.opts.Source.String(),
		"failOverTimeout", c.opts.FailOverTimeout, "gracePeriodSeconds", c.opts.GracePeriodSeconds)
	if err := c.broadcaster.StartRecordingToSinkWithContext(ctx); err != nil {
		return fmt.Errorf("start event recorder: %w", err)
	}
	defer c.broadcaster.Shutdown()
	defer c.queue.ShutDown()
	c.factory.Start(ctx.Done())
	for typ, ok := range c.factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("informer for %v did not sync: %w", typ, ctx.Err())
		}
	}
	c.log.Info("ha-controller caches synced")
	var wg sync.WaitGroup
	sup := &Supervisor{Source: c.opts.Source, Tracker: c.tracker, Notify: c.onChange, Logger: c.log, Metrics: c.metrics, Now: c.opts.Now}
	wg.Go(func() { _ = sup.Run(ctx) })
	wg.Go(func() { c.optionsLoop(ctx) })
	for range c.opts.Workers {
		wg.Go(func() {
			for c.processNext(ctx) {
			}
		})
	}
	<-ctx.Done()
	c.queue.ShutDown()
	wg.Wait()
	c.factory.Shutdown()
	return nil
}

// optionsLoop reads the resource options whenever a new resource appears
// or a connection is lost (never on a timer).
func (c *Controller) optionsLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.optionsRequests:
		}
		opts, err := c.readOptions(ctx)
		if err != nil {
			c.log.Warn("cannot read DRBD resource options; resources count as having no quorum policy (DRBD 8.4 has none)", "err", err)
			opts = map[string]drbd.Options{}
		}
		c.enqueueResources(c.tracker.SetOptions(opts))
		c.enqueue(nodeKey)
	}
}

func (c *Controller) readOptions(ctx context.Context) (map[string]drbd.Options, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.OperationTimeout)
	defer cancel()
	res, err := c.exec.Run(ctx, drbd.ShowJSON())
	if err != nil {
		return nil, err
	}
	return drbd.ParseShowJSON(res.Stdout)
}

func (c *Controller) processNext(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	c.mu.Lock()
	queued := c.queuedAt[key]
	delete(c.queuedAt, key)
	c.mu.Unlock()
	if !c.tracker.Synced() {
		return true // the end of the dump queues everything again
	}
	now := c.now()
	var d Decision
	if key == nodeKey {
		d = DecideNode(c.opts.Config, now, c.tracker.All(), c.node(c.opts.NodeName))
	} else {
		name := strings.TrimPrefix(key, resPrefix)
		res, ok := c.tracker.Resource(name)
		if !ok {
			c.queue.Forget(key)
			return true
		}
		d = DecideResource(c.opts.Config, now, res, c.volume(name), Cluster{Node: c.node, ClaimVolume: c.claimVolume})
	}
	c.metrics.decisions.Inc()
	c.logDecision(d)
	failed := c.execute(ctx, d, res2version(c, key), queued)
	switch {
	case failed:
		c.queue.AddRateLimited(key)
	default:
		c.queue.Forget(key)
	}
	if !d.WakeAt.IsZero() {
		c.queue.AddAfter(key, d.WakeAt.Sub(now)+10*time.Millisecond)
	}
	return true
}

// res2version is the DRBD state version of a key, for actions on DRBD.
func res2version(c *Controller, key string) string {
	r, ok := c.tracker.Resource(strings.TrimPrefix(key, resPrefix))
	if !ok {
		return ""
	}
	return r.LastEvent.Format(time.RFC3339Nano)
}

func (c *Controller) logDecision(d Decision) {
	var acts []string
	for _, a := range d.Actions {
		acts = append(acts, describe(a))
	}
	text := strings.Join(acts, "; ") + "|" + strings.Join(d.Notes, "; ")
	c.mu.Lock()
	changed := c.logged[d.Subject] != text
	c.logged[d.Subject] = text
	c.mu.Unlock()
	level := slog.LevelDebug
	if len(d.Actions) > 0 || (changed && len(d.Notes) > 0) {
		level = slog.LevelInfo
	}
	c.log.Log(context.Background(), level, "decision", "subject", d.Subject, "drbd", d.DRBD,
		"actions", acts, "notes", d.Notes, "wakeAt", d.WakeAt)
}

// describe is an action for logs.
func describe(a Action) string {
	switch a.Kind {
	case Taint, Untaint:
		return fmt.Sprintf("%s node/%s %s (%s)", a.Kind, a.Node, a.Taint, a.Why)
	case EvictPod, DeletePod:
		return fmt.Sprintf("%s pod/%s/%s grace=%ds (%s)", a.Kind, a.Pod.Namespace, a.Pod.Name, a.GraceSeconds, a.Why)
	case DeleteVolumeAttachment:
		return fmt.Sprintf("%s volumeattachment/%s (%s)", a.Kind, a.Attachment.Name, a.Why)
	default:
		return fmt.Sprintf("%s %s (%s)", a.Kind, a.Resource, a.Why)
	}
}

// execute carries out a decision's actions, group by group; it reports
// whether any failed. An action already done at the same object version
// is not repeated (the watch has not caught up yet, or it made no
// progress): only a change of the object or a failure brings it back.
func (c *Controller) execute(ctx context.Context, d Decision, drbdVersion string, queued time.Time) bool {
	failed := false
	skipGroup := map[string]bool{}
	c.pruneMemory()
	for _, a := range d.Actions {
		if skipGroup[a.Group] {
			continue
		}
		key, version := actionKey(a, drbdVersion)
		c.mu.Lock()
		prev, seen := c.done[key]
		c.mu.Unlock()
		if key != "" && seen && prev.version == version {
			c.log.Debug("action already done at this version; waiting for a change", "action", describe(a))
			continue
		}
		actx, cancel := context.WithTimeout(ctx, c.opts.OperationTimeout)
		err := c.do(actx, a)
		cancel()
		if errors.Is(err, errUnchanged) {
			continue
		}
		if err != nil {
			failed = true
			skipGroup[a.Group] = true
			c.metrics.actions.WithLabelValues(string(a.Kind), "error").Inc()
			c.log.Warn("action failed; retrying with backoff", "subject", d.Subject, "action", describe(a), "drbd", d.DRBD, "err", err)
			continue
		}
		if key != "" {
			c.mu.Lock()
			c.done[key] = doneAction{version: version, at: c.now()}
			c.mu.Unlock()
		}
		c.metrics.actions.WithLabelValues(string(a.Kind), "ok").Inc()
		if !queued.IsZero() {
			c.metrics.latency.Observe(c.now().Sub(queued).Seconds())
		}
		c.log.Info("action done", "subject", d.Subject, "action", describe(a), "drbd", d.DRBD)
		for _, e := range a.Events {
			c.recorder.Eventf(e.Regarding, e.Related, e.Type, e.Reason, e.Action, "%s", e.Note)
		}
	}
	return failed
}

// actionKey names an action and the version of its object; taints have
// none (they are read fresh and are no-ops when already so). A Pod evicted
// or deleted once is terminating whatever version the watch shows next (a
// late status update is not a new Pod), so its version is its UID alone.
func actionKey(a Action, drbdVersion string) (key, version string) {
	switch a.Kind {
	case Taint, Untaint:
		return "", ""
	case EvictPod, DeletePod:
		return string(a.Kind) + "/" + string(a.Pod.UID), string(a.Pod.UID)
	case DeleteVolumeAttachment:
		return string(a.Kind) + "/" + string(a.Attachment.UID), a.Attachment.ResourceVersion
	default:
		return string(a.Kind) + "/" + a.Resource, drbdVersion
	}
}

func (c *Controller) pruneMemory() {
	c.mu.Lock()
	defer c.mu.Unlock()
	cut := c.now().Add(-memoryLifetime)
	for k, v := range c.done {
		if v.at.Before(cut) {
			delete(c.done, k)
		}
	}
}

func (c *Controller) do(ctx context.Context, a Action) error {
	switch a.Kind {
	case Taint, Untaint:
		changed, err := c.setTaint(ctx, a.Node, a.Taint, a.Kind == Taint)
		if err == nil && !changed {
			return errUnchanged
		}
		return err
	case EvictPod:
		// Not the typed EvictV1: client-go would honour the Retry-After of a
		// refused eviction and wait out the whole timeout in the request;
		// the work queue's backoff paces retries instead.
		ev := &policyv1.Eviction{
			ObjectMeta:    metav1.ObjectMeta{Namespace: a.Pod.Namespace, Name: a.Pod.Name},
			DeleteOptions: &metav1.DeleteOptions{GracePeriodSeconds: &a.GraceSeconds, Preconditions: metav1.NewUIDPreconditions(string(a.Pod.UID))},
		}
		err := c.opts.Client.CoreV1().RESTClient().Post().MaxRetries(0).
			Namespace(a.Pod.Namespace).Resource("pods").Name(a.Pod.Name).SubResource("eviction").
			Body(ev).Do(ctx).Error()
		if apierrors.IsTooManyRequests(err) {
			return fmt.Errorf("eviction of pod %s/%s refused with 429 (a PodDisruptionBudget allows no disruption now, or the API server throttles); retried with backoff, and a delete once the Node is NotReady: %w", a.Pod.Namespace, a.Pod.Name, err)
		}
		return gone(err)
	case DeletePod:
		return gone(c.opts.Client.CoreV1().Pods(a.Pod.Namespace).Delete(ctx, a.Pod.Name, metav1.DeleteOptions{
			GracePeriodSeconds: &a.GraceSeconds, Preconditions: metav1.NewUIDPreconditions(string(a.Pod.UID))}))
	case DeleteVolumeAttachment:
		return gone(c.opts.Client.StorageV1().VolumeAttachments().Delete(ctx, a.Attachment.Name, metav1.DeleteOptions{
			Preconditions: metav1.NewUIDPreconditions(string(a.Attachment.UID))}))
	case ForceDemote:
		_, err := c.exec.Run(ctx, drbd.ForceSecondary(a.Resource))
		return err
	}
	return fmt.Errorf("unknown action %q", a.Kind)
}

// gone treats an object that is already gone (or replaced by another of
// the same name: the UID precondition failed) as done.
func gone(err error) error {
	if err == nil || apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}

// setTaint adds or removes a NoSchedule taint, reading the Node fresh and
// retrying on conflicts (taints are a list without merge key: an update of
// the whole list, guarded by the resourceVersion, keeps others' taints).
func (c *Controller) setTaint(ctx context.Context, name, key string, on bool) (changed bool, err error) {
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := c.opts.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		has := hasTaint(n, key)
		changed = false
		switch {
		case on && has, !on && !has:
			return nil
		case on:
			now := metav1.NewTime(c.now())
			n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: key, Effect: corev1.TaintEffectNoSchedule, TimeAdded: &now})
		default:
			n.Spec.Taints = slices.DeleteFunc(n.Spec.Taints, func(t corev1.Taint) bool { return t.Key == key })
		}
		_, err = c.opts.Client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{FieldManager: FieldManager})
		changed = err == nil
		return err
	})
	return changed, err
}

// errUnchanged reports an action that found its work already done.
var errUnchanged = errors.New("already so")

func (c *Controller) node(name string) *corev1.Node {
	o, ok, _ := c.nodes.GetStore().GetByKey(name)
	if !ok {
		return nil
	}
	return o.(*corev1.Node)
}

func (c *Controller) claimVolume(namespace, claim string) *corev1.PersistentVolume {
	objs, _ := c.pvs.GetIndexer().ByIndex(indexClaim, namespace+"/"+claim)
	if len(objs) != 1 {
		return nil
	}
	return objs[0].(*corev1.PersistentVolume)
}

// volume gathers the Kubernetes objects of a DRBD resource.
func (c *Controller) volume(name string) Volume {
	objs, _ := c.pvs.GetIndexer().ByIndex(indexHandle, name)
	if len(objs) != 1 {
		if len(objs) > 1 {
			c.log.Warn("several PersistentVolumes have one volume handle; left alone", "resource", name, "count", len(objs))
		}
		return Volume{}
	}
	v := Volume{PV: objs[0].(*corev1.PersistentVolume)}
	if ref := v.PV.Spec.ClaimRef; ref != nil {
		key := ref.Namespace + "/" + ref.Name
		if o, ok, _ := c.pvcs.GetStore().GetByKey(key); ok {
			v.PVC = o.(*corev1.PersistentVolumeClaim)
		}
		pods, _ := c.pods.GetIndexer().ByIndex(indexClaim, key)
		for _, p := range pods {
			v.Pods = append(v.Pods, p.(*corev1.Pod))
		}
	}
	vas, _ := c.vas.GetIndexer().ByIndex(indexPV, v.PV.Name)
	for _, va := range vas {
		v.Attachments = append(v.Attachments, va.(*storagev1.VolumeAttachment))
	}
	return v
}

// Healthz answers 200 once the informers are synced and the events2 state
// was read, 500 with the reason before.
func (c *Controller) Healthz(w http.ResponseWriter, _ *http.Request) {
	for name, inf := range map[string]cache.SharedIndexInformer{"pods": c.pods, "persistentvolumes": c.pvs,
		"persistentvolumeclaims": c.pvcs, "volumeattachments": c.vas, "nodes": c.nodes} {
		if !inf.HasSynced() {
			http.Error(w, "informer for "+name+" not synced", http.StatusInternalServerError)
			return
		}
	}
	if !c.tracker.Synced() {
		http.Error(w, "DRBD state (events2) not read yet", http.StatusInternalServerError)
		return
	}
	if c.node(c.opts.NodeName) == nil {
		http.Error(w, "node "+c.opts.NodeName+" does not exist", http.StatusInternalServerError)
		return
	}
	_, _ = w.Write([]byte("ok"))
}
