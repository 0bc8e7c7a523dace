package xds

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Push reasons, the values of the reason label of pilotlight_xds_pushes_total.
const (
	// reasonInitial: the answer to a request (a new stream, a new or
	// changed subscription), not caused by a change of the mesh.
	reasonInitial = "initial"
	// reasonEndpoints: caused by a snapshot that changed endpoints only.
	reasonEndpoints = "endpoints"
	// reasonConfig: caused by a change of services or Istio configs.
	reasonConfig = "config"
	// reasonFull: caused by a change that touches everything (the mesh
	// settings, namespaces, or the first snapshot).
	reasonFull = "full"
	// reasonCertificate: a plain Envoy's minted workload certificate was
	// renewed (workload.go).
	reasonCertificate = "certificate"
)

type metrics struct {
	connectedProxies     prometheus.Gauge
	pushes               *prometheus.CounterVec
	pushDuration         prometheus.Histogram
	nacks                *prometheus.CounterVec
	debounce             prometheus.Histogram
	fullPushes           prometheus.Counter
	generatedResources   *prometheus.CounterVec
	cacheHits            *prometheus.CounterVec
	invalidResources     *prometheus.CounterVec
	generationErrors     *prometheus.CounterVec
	refusedSecrets       *prometheus.CounterVec
	streamsAuthenticated *prometheus.CounterVec
	streamsRefused       *prometheus.CounterVec
	minted               *prometheus.CounterVec
	mintFailures         prometheus.Counter
	problems             *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		problems: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "pilotlight_config_problems",
			Help: "Input objects pilotlight rejected (severity error) or serves only in part (warning), and analysis findings, by kind.",
		}, []string{"kind", "severity"}),
		connectedProxies: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pilotlight_xds_connected_proxies",
			Help: "Open ADS streams (SotW and delta).",
		}),
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pilotlight_xds_pushes_total",
			Help: "Responses handed to ADS streams, by type and by what caused them (initial, endpoints, config, full, certificate).",
		}, []string{"type", "reason"}),
		pushDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "pilotlight_xds_push_duration_seconds",
			Help:    "Time from the end of a debounce to a push response being handed to a stream.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}),
		nacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pilotlight_xds_nacks_total",
			Help: "Responses rejected by proxies, by type.",
		}, []string{"type"}),
		debounce: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "pilotlight_xds_debounce_seconds",
			Help:    "Time from the first update of a debounce window to the snapshot being installed.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 10),
		}),
		fullPushes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pilotlight_xds_full_pushes_total",
			Help: "Installed snapshots that invalidated every cached resource type (anything but an endpoint-only change).",
		}),
		generatedResources: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pilotlight_xds_generated_resources_total",
			Help: "Resources generated and serialized, by type.",
		}, []string{"type"}),
		cacheHits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pilotlight_xds_cache_hits_total",
			Help: "Resources served from an already generated cache entry, by type.",
		}, []string{"type"}),
		invalidResources: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pilotlight_xds_invalid_resources_total",
			Help: "Generated resources dropped because they failed validation, by type.",
		}, []string{"type"}),
		generationErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pilotlight_xds_generation_errors_total",
			Help: "Generator calls that panicked; the affected proxies keep their last config.",
		}, []string{"type"}),
		refusedSecrets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pilotlight_xds_refused_secret_requests_total",
			Help: "Secret (SDS) requests refused, by reason: unauthenticated (the stream proved no identity and this server does not serve credentials to such streams, --serve-gateway-secrets), " +
				"secret_access_denied (the stream's service account may not read its namespace's Secrets; counted once per stream).",
		}, []string{"reason"}),
		streamsAuthenticated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pilotlight_xds_authenticated_streams_total",
			Help: "ADS streams on the TLS port admitted with a proved identity that matches their node, by how it was proved (kubernetes-token, client-certificate).",
		}, []string{"method"}),
		streamsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pilotlight_xds_refused_streams_total",
			Help: "ADS streams on the TLS port refused before any config was sent, by reason (no_credentials, token_rejected, client_certificate_rejected, tokenreview_unavailable, identity_mismatch).",
		}, []string{"reason"}),
		minted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pilotlight_xds_workload_certificates_minted_total",
			Help: "Key pairs and certificates minted for plain Envoys' workload secrets (default, ROOTCA), by reason (new, half_life, trust_bundle).",
		}, []string{"reason"}),
		mintFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pilotlight_xds_workload_certificate_failures_total",
			Help: "Failed attempts to mint a plain Envoy's workload certificate; the current one, if any, stays.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.connectedProxies, m.pushes, m.pushDuration, m.nacks, m.debounce,
			m.fullPushes, m.generatedResources, m.cacheHits, m.invalidResources, m.generationErrors, m.refusedSecrets, m.problems,
			m.streamsAuthenticated, m.streamsRefused, m.minted, m.mintFailures)
	}
	return m
}
