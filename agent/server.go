package agent

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
)

// DefaultPollInterval is how often WatchStatus re-reads the host.
const DefaultPollInterval = 2 * time.Second

// Server exposes an Agent as the agentv1.Agent gRPC service.
type Server struct {
	agentv1.UnimplementedAgentServer
	Agent *Agent
	// Stopping, when closed, ends open WatchStatus streams (server shutdown).
	Stopping <-chan struct{}
}

// Apply implements agentv1.AgentServer.
func (s *Server) Apply(ctx context.Context, d *agentv1.NodeDesiredState) (*agentv1.ApplyResult, error) {
	res, err := s.Agent.Apply(ctx, d)
	return res, grpcError(err)
}

// DeleteResource implements agentv1.AgentServer.
func (s *Server) DeleteResource(ctx context.Context, req *agentv1.DeleteResourceRequest) (*agentv1.DeleteResourceResult, error) {
	res, err := s.Agent.DeleteResource(ctx, req)
	if err != nil {
		return nil, grpcError(err)
	}
	return res, nil
}

// DeleteSnapshot implements agentv1.AgentServer.
func (s *Server) DeleteSnapshot(ctx context.Context, req *agentv1.DeleteSnapshotRequest) (*agentv1.DeleteSnapshotResult, error) {
	res, err := s.Agent.DeleteSnapshot(ctx, req)
	if err != nil {
		return nil, grpcError(err)
	}
	return res, nil
}

// WatchStatus implements agentv1.AgentServer: the first status at once,
// then each one that differs from the last sent, polled or after a change.
func (s *Server) WatchStatus(req *agentv1.WatchRequest, stream agentv1.Agent_WatchStatusServer) error {
	ctx := stream.Context()
	interval := time.Duration(req.GetPollIntervalMs()) * time.Millisecond
	if interval <= 0 {
		interval = DefaultPollInterval
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	var last *agentv1.NodeStatus
	for {
		_, changed := s.Agent.lastDesired()
		st := s.Agent.Status(ctx)
		if last == nil || !proto.Equal(last, st) {
			if err := stream.Send(st); err != nil {
				return err
			}
			last = st
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.Stopping:
			return status.Error(codes.Unavailable, "agent is shutting down")
		case <-ticker.C:
		case <-changed:
		}
	}
}

// grpcError maps agent errors to gRPC status codes.
func grpcError(err error) error {
	if err == nil {
		return nil
	}
	var inv *InvalidError
	var conflict *ConflictError
	switch {
	case errors.As(err, &inv):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.As(err, &conflict):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}
