package controller

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	"github.com/piraeusctl/piraeusctl/linstorapi"
)

// Defaults of Options.
const (
	DefaultAgentPort    = 3366
	DefaultResync       = 5 * time.Minute
	DefaultApplyTimeout = 5 * time.Minute
	DefaultWorkers      = 4
	// LeaseName is the Lease the controllers elect their leader with.
	LeaseName = "linstor-controller"
	// AgentAddressAnnotation on a Node overrides where its agent is reached
	// (host:port), e.g. for agents run as local processes.
	AgentAddressAnnotation = "storage.piraeus.io/agent-address"
	// volumeNodesIndex indexes StorageVolumes by the nodes they concern.
	volumeNodesIndex = "storage.piraeus.io/nodes"
	fieldManager     = "linstor-controller"
)

// Options configure the controller.
type Options struct {
	// Config reaches the API server.
	Config *rest.Config
	// Namespace holds the leader-election Lease.
	Namespace string
	// LeaderElection: only the holder of the Lease acts. Off, several
	// controllers act at once (allocations stay unique through the ledger).
	LeaderElection bool
	// AgentTLS is the controller's client certificate for the agents.
	AgentTLS AgentTLS
	// Dialer replaces the gRPC dialer (tests); nil dials with AgentTLS.
	Dialer Dialer
	// AgentPort is the agents' port when a Node does not say otherwise.
	AgentPort int
	// Resync is how often every node is told its desired state again
	// (no-op on a converged node) and every volume's status recomputed.
	Resync time.Duration
	// ApplyTimeout bounds one Apply call.
	ApplyTimeout time.Duration
	// Workers per queue.
	Workers int
	// HealthAddr serves /healthz and /readyz; MetricsAddr serves /metrics ("0" disables).
	HealthAddr, MetricsAddr string
	// ReservationGrace is how long a ledger reservation may wait for its
	// volume to record it before repair releases it.
	ReservationGrace time.Duration
	// APIAddr serves LINSTOR's REST API v1 on every replica ("" or "0"
	// disables); APITLSDir (tls.crt, tls.key, ca.crt) makes it HTTPS with
	// client certificates.
	APIAddr, APITLSDir string
	// APIWaitTimeout bounds how long an API call waits for a resource to deploy.
	APIWaitTimeout time.Duration
	Logger         *slog.Logger
}

// DefaultOptions are the flags' defaults.
func DefaultOptions() Options {
	return Options{
		AgentPort:        DefaultAgentPort,
		Resync:           DefaultResync,
		ApplyTimeout:     DefaultApplyTimeout,
		Workers:          DefaultWorkers,
		HealthAddr:       ":8081",
		MetricsAddr:      ":8080",
		ReservationGrace: 10 * time.Minute,
		LeaderElection:   true,
		APIWaitTimeout:   linstorapi.DefaultWaitTimeout,
	}
}

// Scheme is the controller's type registry.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, storagev1alpha1.AddToScheme, apiextensionsv1.AddToScheme} {
		if err := add(s); err != nil {
			return nil, fmt.Errorf("scheme: %w", err)
		}
	}
	return s, nil
}

// Controller is the state of the running loops.
type Controller struct {
	opts      Options
	informers cache.Informers
	client    client.Client // cached reads, counted writes
	reader    client.Reader // past the cache
	log       *slog.Logger
	recorder  record.EventRecorder
	ledger    *Ledger
	reserver  *reserver
	metrics   *metrics
	dial      Dialer

	volumes   workqueue.TypedRateLimitingInterface[string]
	nodes     workqueue.TypedRateLimitingInterface[string]
	snapshots workqueue.TypedRateLimitingInterface[string]
	placer    *placer

	mu       sync.Mutex
	sessions map[string]*session
	reports  map[string]*NodeReport
	applied  map[string]appliedState
	// deleted: volume uid → node → its replica was deleted there.
	deleted map[types.UID]map[string]bool
	// finalized: volume name → uid whose finalizer this controller removed;
	// its deleted entry stays until the informer drops the object, so a
	// node loop that still sees it does not try (and refuse) again.
	finalized map[string]types.UID
	// snapDeleted: snapshot uid → node → its snapshot was deleted there.
	snapDeleted map[types.UID]map[string]bool
	// unplaced: volume name → why placement failed.
	unplaced map[string]string
	// topoDirty: the topology status must be recomputed.
	topoDirty bool
	// refusedCRD: a deletion refused because the CRD is being deleted was reported.
	refusedCRD map[types.UID]bool
	ctx        context.Context
}

// appliedState is what a node was last told successfully.
type appliedState struct {
	digest     string
	generation uint64
	at         time.Time
	pending    bool
}

// newController wires a Controller to a client and recorder.
func newController(opts Options, informers cache.Informers, c client.Client, reader client.Reader, recorder record.EventRecorder, m *metrics) *Controller {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	ctl := &Controller{
		opts:        opts,
		informers:   informers,
		reader:      reader,
		log:         opts.Logger,
		recorder:    recorder,
		metrics:     m,
		dial:        opts.Dialer,
		sessions:    map[string]*session{},
		reports:     map[string]*NodeReport{},
		applied:     map[string]appliedState{},
		deleted:     map[types.UID]map[string]bool{},
		finalized:   map[string]types.UID{},
		snapDeleted: map[types.UID]map[string]bool{},
		unplaced:    map[string]string{},
		refusedCRD:  map[types.UID]bool{},
		volumes:     workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](), workqueue.TypedRateLimitingQueueConfig[string]{Name: "volumes"}),
		nodes:       workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](), workqueue.TypedRateLimitingQueueConfig[string]{Name: "nodes"}),
		snapshots:   workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](), workqueue.TypedRateLimitingQueueConfig[string]{Name: "snapshots"}),
	}
	ctl.client = countingClient(c, m)
	if ctl.dial == nil {
		ctl.dial = GRPCDialer(opts.AgentTLS)
	}
	ctl.ledger = &Ledger{Client: ctl.client, Reader: reader}
	ctl.reserver = &reserver{ledger: ctl.ledger}
	ctl.placer = newPlacer(ctl)
	return ctl
}

// countingClient counts every write in the api_writes metric.
func countingClient(c client.Client, m *metrics) client.Client { return &counting{Client: c, m: m} }

// counting is a client.Client whose writes are counted by kind.
type counting struct {
	client.Client
	m *metrics
}

func (c *counting) count(obj client.Object) {
	c.m.apiWrites.WithLabelValues(fmt.Sprintf("%T", obj)).Inc()
}

func (c *counting) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	c.count(obj)
	return c.Client.Create(ctx, obj, opts...)
}

func (c *counting) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	c.count(obj)
	return c.Client.Update(ctx, obj, opts...)
}

func (c *counting) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	c.count(obj)
	return c.Client.Patch(ctx, obj, patch, opts...)
}

func (c *counting) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	c.count(obj)
	return c.Client.Delete(ctx, obj, opts...)
}

func (c *counting) Status() client.SubResourceWriter {
	return &countingStatus{SubResourceWriter: c.Client.Status(), c: c}
}

type countingStatus struct {
	client.SubResourceWriter
	c *counting
}

func (s *countingStatus) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	s.c.count(obj)
	return s.SubResourceWriter.Update(ctx, obj, opts...)
}

func (s *countingStatus) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	s.c.count(obj)
	return s.SubResourceWriter.Patch(ctx, obj, patch, opts...)
}

// report returns the node's report, creating it.
func (c *Controller) report(node string) *NodeReport {
	r := c.reports[node]
	if r == nil {
		r = &NodeReport{Problems: map[string]string{}}
		c.reports[node] = r
	}
	return r
}

// reportsCopy snapshots the reports. Shallow: a report's Status, index and
// Problems are replaced, never mutated, so the copy shares them safely (it
// is taken for every volume status, so it must not cost the cluster's size).
func (c *Controller) reportsCopy() map[string]*NodeReport {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]*NodeReport, len(c.reports))
	for n, r := range c.reports {
		cp := *r
		out[n] = &cp
	}
	return out
}

// onStatus takes a status (or the end of a stream) from a node's agent:
// the node is told its state again after a reconnect, and the volumes whose
// resources changed are re-evaluated.
func (c *Controller) onStatus(node string, st *agentv1.NodeStatus, connected bool, err error) {
	c.mu.Lock()
	r := c.report(node)
	prev := r.Status
	wasConnected := r.Connected
	r.Connected = connected
	if st != nil {
		r.setStatus(st)
		r.Error = ""
	}
	if err != nil {
		r.Error = err.Error()
	}
	c.topoDirty = true
	c.mu.Unlock()
	if connected && !wasConnected {
		c.nodes.Add(node) // re-tell: the agent may have restarted
	}
	for _, name := range changedResources(prev, st, connected != wasConnected) {
		c.volumes.Add(name)
	}
	for _, name := range changedSnapshots(prev, st, connected != wasConnected) {
		c.snapshots.Add(name)
	}
}

// changedResources names resources whose status differs between two
// reports (all of them when all flag is set).
func changedResources(prev, cur *agentv1.NodeStatus, all bool) []string {
	return changedNames(prev.GetResources(), cur.GetResources(), (*agentv1.ResourceStatus).GetName, all)
}

// changedNames names the entries, keyed by key, that differ between two
// lists of a report, or appear in only one (all of them when all is set).
func changedNames[T proto.Message](prev, cur []T, key func(T) string, all bool) []string {
	index := func(list []T) map[string]T {
		m := make(map[string]T, len(list))
		for _, e := range list {
			m[key(e)] = e
		}
		return m
	}
	a, b := index(prev), index(cur)
	var out []string
	for name, e := range a {
		if other, ok := b[name]; all || !ok || !proto.Equal(e, other) {
			out = append(out, name)
		}
	}
	for name := range b {
		if _, ok := a[name]; !ok {
			out = append(out, name)
		}
	}
	return out
}
