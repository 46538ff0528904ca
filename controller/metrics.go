package controller

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the controller's Prometheus series, served on /metrics.
type metrics struct {
	volumes          *prometheus.GaugeVec
	agentsConnected  prometheus.Gauge
	convergeSeconds  prometheus.Histogram
	applies          *prometheus.CounterVec
	mutatingCommands prometheus.Counter
	apiWrites        *prometheus.CounterVec
	orphans          prometheus.Gauge
	conflicts        prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		volumes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "piraeusctl_controller_volumes",
			Help: "StorageVolumes by state: ready, degraded, pending (not ready yet), deleting.",
		}, []string{"state"}),
		agentsConnected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "piraeusctl_controller_agents_connected",
			Help: "Node agents with an open status stream.",
		}),
		convergeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "piraeusctl_controller_converge_seconds",
			Help:    "Time from a StorageVolume's creation to its first Ready.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 14),
		}),
		applies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "piraeusctl_controller_agent_applies_total",
			Help: "Apply calls to node agents, by result (ok, error).",
		}, []string{"result"}),
		mutatingCommands: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "piraeusctl_controller_agent_mutating_commands_total",
			Help: "Host commands that changed a node, as the agents report them.",
		}),
		apiWrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "piraeusctl_controller_api_writes_total",
			Help: "Writes to the API server, by kind of object.",
		}, []string{"kind"}),
		orphans: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "piraeusctl_controller_orphans",
			Help: "Resources on nodes that no StorageVolume claims (left in place).",
		}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "piraeusctl_controller_write_conflicts_total",
			Help: "Reconciles whose write met a newer version of the object (requeued, not failed).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.volumes, m.agentsConnected, m.convergeSeconds, m.applies, m.mutatingCommands, m.apiWrites, m.orphans, m.conflicts)
	}
	return m
}
