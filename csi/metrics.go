package csi

import (
	"context"
	"path"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// metrics are the driver's Prometheus metrics, in a registry of its own.
type metrics struct {
	registry *prometheus.Registry
	latency  *prometheus.HistogramVec
	errors   *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "piraeusctl_csi_operation_duration_seconds",
			Help:    "Duration of CSI calls, by method and gRPC status code.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"method", "code"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "piraeusctl_csi_operation_errors_total",
			Help: "CSI calls that failed, by method and gRPC status code.",
		}, []string{"method", "code"}),
	}
	m.registry.MustRegister(m.latency, m.errors)
	return m
}

// intercept logs, times and counts every call; an error that is not a gRPC
// status becomes Internal with its text.
func (d *Driver) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	method := path.Base(info.FullMethod)
	start := time.Now()
	resp, err := handler(ctx, req)
	if err != nil {
		if _, ok := status.FromError(err); !ok {
			err = status.Error(codes.Internal, err.Error())
		}
	}
	code := status.Code(err)
	took := time.Since(start)
	d.metrics.latency.WithLabelValues(method, code.String()).Observe(took.Seconds())
	if err != nil {
		d.metrics.errors.WithLabelValues(method, code.String()).Inc()
		d.log.Info("CSI call failed", "method", method, "code", code.String(), "took", took, "err", err)
	} else {
		d.log.Debug("CSI call", "method", method, "took", took)
	}
	return resp, err
}
