package ca

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	issued   prometheus.Counter
	failures *prometheus.CounterVec
}

// newMetrics makes the CA's metrics and registers them on reg, if any.
// The root expiry and the bundle's size are read from a at every
// scrape, so they follow the material in use.
func newMetrics(reg prometheus.Registerer, a *Authority) (*metrics, error) {
	m := &metrics{
		issued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pilotlight_ca_certificates_issued_total",
			Help: "Workload certificates issued by CreateCertificate.",
		}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pilotlight_ca_failures_total",
			Help: "CreateCertificate calls that issued nothing, by reason.",
		}, []string{"reason"}),
	}
	rootExpiry := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "pilotlight_ca_root_expiry_timestamp_seconds",
		Help: "When the root that anchors the CA's signing certificate expires (Unix seconds).",
	}, func() float64 { return float64(a.Material().Root().NotAfter.Unix()) })
	bundle := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "pilotlight_ca_trust_bundle_roots",
		Help: "Roots in the trust bundle: more than one while a root rotation is under way.",
	}, func() float64 { return float64(len(a.Material().Roots)) })
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.issued, m.failures, rootExpiry, bundle} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
