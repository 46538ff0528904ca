package hacontroller

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the controller's Prometheus metrics, in a registry of their
// own (no global state).
type Metrics struct {
	Registry     *prometheus.Registry
	lines        prometheus.Counter
	parseErrors  prometheus.Counter
	streamStarts prometheus.Counter
	decisions    prometheus.Counter
	actions      *prometheus.CounterVec
	latency      prometheus.Histogram
}

// NewMetrics returns registered metrics.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		lines: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "piraeusctl_ha_events2_lines_total", Help: "events2 lines read."}),
		parseErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "piraeusctl_ha_events2_skipped_lines_total", Help: "events2 lines that could not be parsed and were skipped."}),
		streamStarts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "piraeusctl_ha_events2_streams_total", Help: "events2 streams opened (1 + reconnects)."}),
		decisions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "piraeusctl_ha_decisions_total", Help: "Decisions made."}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "piraeusctl_ha_actions_total", Help: "Actions carried out, by kind and result."}, []string{"action", "result"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "piraeusctl_ha_event_to_action_seconds",
			Help:    "From the events2 line that made an action due (or the timer that did) to the API request's answer.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2, 5},
		}),
	}
	m.Registry.MustRegister(m.lines, m.parseErrors, m.streamStarts, m.decisions, m.actions, m.latency)
	return m
}

// Handler serves the metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}
