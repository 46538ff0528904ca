package controller

import (
	"context"
	"fmt"
	"io"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
)

// fakeAgents stand in for node agents at the gRPC boundary: each records
// the desired states it is told and reports every resource as deployed and
// UpToDate, so the controller's own cost can be measured without hosts.
type fakeAgents struct {
	mu     sync.Mutex
	agents map[string]*fakeAgent
}

func newFakeAgents() *fakeAgents { return &fakeAgents{agents: map[string]*fakeAgent{}} }

// dialer is a controller Dialer that connects to the fake of each node.
func (f *fakeAgents) dialer() Dialer {
	return func(_ context.Context, node, _ string) (agentv1.AgentClient, Closer, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		a := f.agents[node]
		if a == nil {
			a = &fakeAgent{node: node, changed: make(chan struct{}, 1)}
			f.agents[node] = a
		}
		return a, io.NopCloser(nil), nil
	}
}

// applies counts Apply calls over all nodes.
func (f *fakeAgents) applies() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, a := range f.agents {
		a.mu.Lock()
		n += a.applies
		a.mu.Unlock()
	}
	return n
}

type fakeAgent struct {
	node    string
	mu      sync.Mutex
	desired *agentv1.NodeDesiredState
	applies int
	changed chan struct{}
}

func (a *fakeAgent) Apply(_ context.Context, d *agentv1.NodeDesiredState, _ ...grpc.CallOption) (*agentv1.ApplyResult, error) {
	a.mu.Lock()
	same := proto.Equal(a.desired, d)
	a.desired = proto.Clone(d).(*agentv1.NodeDesiredState)
	a.applies++
	a.mu.Unlock()
	res := &agentv1.ApplyResult{}
	for _, r := range d.GetResources() {
		out := agentv1.Outcome_UNCHANGED
		if !same {
			out = agentv1.Outcome_CHANGED
		}
		res.Resources = append(res.Resources, &agentv1.ResourceResult{Name: r.GetName(), Outcome: out})
	}
	if !same {
		select {
		case a.changed <- struct{}{}:
		default:
		}
	}
	return res, nil
}

func (a *fakeAgent) DeleteResource(_ context.Context, req *agentv1.DeleteResourceRequest, _ ...grpc.CallOption) (*agentv1.DeleteResourceResult, error) {
	return &agentv1.DeleteResourceResult{Actions: []string{"delete " + req.GetName()}}, nil
}

func (a *fakeAgent) DeleteSnapshot(_ context.Context, req *agentv1.DeleteSnapshotRequest, _ ...grpc.CallOption) (*agentv1.DeleteSnapshotResult, error) {
	return &agentv1.DeleteSnapshotResult{Actions: []string{"delete snapshot " + req.GetResource() + "/" + req.GetName()}}, nil
}

func (a *fakeAgent) WatchStatus(ctx context.Context, _ *agentv1.WatchRequest, _ ...grpc.CallOption) (grpc.ServerStreamingClient[agentv1.NodeStatus], error) {
	return &fakeStream{ctx: ctx, a: a, first: true}, nil
}

// status reports what the agent was told as converged.
func (a *fakeAgent) status() *agentv1.NodeStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := &agentv1.NodeStatus{NodeName: a.node}
	for _, p := range a.desired.GetStoragePools() {
		st.Pools = append(st.Pools, &agentv1.PoolStatus{Name: p.GetName(), ProviderKind: p.GetProviderKind(), CapacityKib: 10 << 30, FreeKib: 9 << 30})
	}
	for _, r := range a.desired.GetResources() {
		rs := &agentv1.ResourceStatus{Name: r.GetName(), Uid: r.GetUid(), Role: "Secondary", Quorum: true, DrbdUp: r.GetDrbd() != nil}
		for _, v := range r.GetVolumes() {
			disk := "UpToDate"
			if v.GetDiskless() {
				disk = "Diskless"
			}
			rs.Volumes = append(rs.Volumes, &agentv1.VolumeStatus{Number: v.GetNumber(), DevicePath: fmt.Sprintf("/dev/drbd%d", v.GetMinor()), DiskState: disk, BackingSizeKib: v.GetSizeKib(), Quorum: true})
		}
		for _, p := range r.GetDrbd().GetPeers() {
			ps := &agentv1.PeerStatus{NodeName: p.GetNodeName(), NodeId: p.GetNodeId(), ConnectionState: "Connected", Role: "Secondary"}
			for _, v := range r.GetVolumes() {
				ps.Volumes = append(ps.Volumes, &agentv1.PeerVolumeStatus{Number: v.GetNumber(), ReplicationState: "Established", PeerDiskState: "UpToDate", PercentInSync: 100})
			}
			rs.Peers = append(rs.Peers, ps)
		}
		st.Resources = append(st.Resources, rs)
	}
	for _, s := range a.desired.GetSnapshots() {
		ss := &agentv1.SnapshotStatus{Resource: s.GetResource(), Name: s.GetName(), Uid: s.GetUid(), Taken: true}
		for _, v := range s.GetVolumes() {
			ss.Volumes = append(ss.Volumes, v.GetNumber())
		}
		st.Snapshots = append(st.Snapshots, ss)
	}
	return st
}

// fakeStream sends the status at once and after every change.
type fakeStream struct {
	ctx   context.Context
	a     *fakeAgent
	first bool
}

func (s *fakeStream) Recv() (*agentv1.NodeStatus, error) {
	if s.first {
		s.first = false
		return s.a.status(), nil
	}
	select {
	case <-s.ctx.Done():
		return nil, s.ctx.Err()
	case <-s.a.changed:
		return s.a.status(), nil
	}
}

func (s *fakeStream) Header() (metadata.MD, error) { return nil, nil }
func (s *fakeStream) Trailer() metadata.MD         { return nil }
func (s *fakeStream) CloseSend() error             { return nil }
func (s *fakeStream) Context() context.Context     { return s.ctx }
func (s *fakeStream) SendMsg(any) error            { return nil }
func (s *fakeStream) RecvMsg(any) error            { return nil }
