package server

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the server's Prometheus collectors, on a private registry.
// Labels are bounded: route templates (not raw paths), status codes and
// decisions from fixed sets.
type metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	intents   *prometheus.CounterVec
	intentDur *prometheus.HistogramVec
	anomalies *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "airlock_http_requests_total", Help: "HTTP requests by route template and status.",
		}, []string{"route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "airlock_http_request_duration_seconds", Help: "HTTP request latency by route template.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"route"}),
		intents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "airlock_intents_total", Help: "Intents by tool (installed tools only, else \"other\") and decision.",
		}, []string{"tool", "decision"}),
		intentDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "airlock_intent_duration_seconds", Help: "Intent latency by tool and decision.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"tool", "decision"}),
	}
	m.anomalies = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "airlock_anomalies_total", Help: "Behavioural anomalies by kind (burst, new_egress_host, denial_run, secret_leak).",
	}, []string{"kind"})
	m.reg.MustRegister(m.requests, m.latency, m.intents, m.intentDur, m.anomalies,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

var knownDecisions = map[string]bool{"allow": true, "deny": true, "done": true, "failed": true, "hold": true}

var knownAnomalies = map[string]bool{"burst": true, "new_egress_host": true, "denial_run": true, "secret_leak": true}

// CountAnomaly increments airlock_anomalies_total for kind.
func (s *Server) CountAnomaly(kind string) {
	if !knownAnomalies[kind] {
		kind = "other"
	}
	s.metrics.anomalies.WithLabelValues(kind).Inc()
}

func (m *metrics) observeRequest(route string, status int, d time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}

func (m *metrics) observeIntent(tool, decision string, d time.Duration) {
	if !knownDecisions[decision] {
		decision = "other"
	}
	m.intents.WithLabelValues(tool, decision).Inc()
	m.intentDur.WithLabelValues(tool, decision).Observe(d.Seconds())
}

// toolLabel bounds the tool label to installed tools.
func (s *Server) toolLabel(tool string) string {
	if tool == "" || !s.d.Registry.Known(tool) {
		return "other"
	}
	return tool
}
