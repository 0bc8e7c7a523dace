package kube

import "github.com/prometheus/client_golang/prometheus"

// metrics are the source's Prometheus metrics.
type metrics struct {
	connected   prometheus.Gauge
	disconnects prometheus.Counter
	// builds and published tell apart the Snapshots built after informer
	// events from those that changed anything: a relist after an outage
	// builds, and must not publish.
	builds    prometheus.Counter
	published prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pilotlight_kube_connected",
			Help: "1 while the Kubernetes API server answers pilotlight's health probe, 0 during an outage.",
		}),
		disconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pilotlight_kube_disconnects_total",
			Help: "Times the Kubernetes API server stopped answering after it had answered.",
		}),
		builds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pilotlight_kube_snapshot_builds_total",
			Help: "Mesh Snapshots built from the informers' state.",
		}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pilotlight_kube_snapshots_published_total",
			Help: "Built Snapshots that differed from the last published one and were handed to the xDS server.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.connected, m.disconnects, m.builds, m.published)
	}
	return m
}
