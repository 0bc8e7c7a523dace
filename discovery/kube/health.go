package kube

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"k8s.io/client-go/kubernetes"
)

// Health is the state of the source's link to the API server.
type Health struct {
	// Connected is false while the API server cannot be reached; the
	// source then serves the informers' last state.
	Connected bool
	// Since is when the current state began.
	Since time.Time
	// Err is the last probe failure while disconnected.
	Err error
}

// Error returns nil when connected, and otherwise an error that says since
// when and why not; it is what the xDS server's readiness hook wants.
func (h Health) Error() error {
	if h.Connected {
		return nil
	}
	return fmt.Errorf("kubernetes API server unreachable since %s (%s ago): %w",
		h.Since.UTC().Format(time.RFC3339), time.Since(h.Since).Round(time.Second), h.Err)
}

// readyzProbe asks the API server's /readyz, which every authenticated
// client may read and which fails when the server cannot serve (its etcd
// is gone, for instance), not only when it is unreachable.
func readyzProbe(kube kubernetes.Interface) func(context.Context) error {
	rc := kube.Discovery().RESTClient()
	if rc == nil {
		return nil
	}
	return func(ctx context.Context) error {
		return rc.Get().AbsPath("/readyz").Do(ctx).Error()
	}
}

// monitor probes the API server and reports when the link goes and comes
// back: one log line each way, a gauge and a counter. Informers retry on
// their own; the monitor only makes the outage visible.
type monitor struct {
	log      *zap.Logger
	probe    func(context.Context) error
	interval time.Duration
	timeout  time.Duration
	kickCh   chan struct{}

	connected   prometheus.Gauge
	disconnects prometheus.Counter

	mu sync.Mutex
	// known is false until the first probe answers.
	known bool
	state Health
}

func newMonitor(o Options, met *metrics) *monitor {
	m := &monitor{
		log:         o.Logger,
		probe:       o.Probe,
		interval:    o.HealthInterval,
		timeout:     o.HealthTimeout,
		kickCh:      make(chan struct{}, 1),
		connected:   met.connected,
		disconnects: met.disconnects,
		state:       Health{Connected: true, Since: time.Now()},
	}
	if m.probe == nil {
		// Without a probe (fake clients) the link is taken as up.
		m.known = true
		m.connected.Set(1)
	}
	return m
}

// Health returns the current state.
func (m *monitor) Health() Health {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state
}

// kick asks for a probe now: a watch failed, and it may be the link.
func (m *monitor) kick() {
	select {
	case m.kickCh <- struct{}{}:
	default:
	}
}

// run probes every interval, and at once when kicked, until ctx ends.
func (m *monitor) run(ctx context.Context) {
	if m.probe == nil {
		return
	}
	t := time.NewTicker(m.interval)
	defer t.Stop()
	for {
		m.check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-m.kickCh:
		}
	}
}

func (m *monitor) check(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, m.timeout)
	err := m.probe(pctx)
	cancel()
	if ctx.Err() != nil {
		return
	}
	m.record(err)
}

// record updates the state with one probe result.
func (m *monitor) record(err error) {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	wasKnown, was := m.known, m.state
	m.known = true
	switch {
	case err == nil && (!wasKnown || !was.Connected):
		m.state = Health{Connected: true, Since: now}
		m.connected.Set(1)
		if !wasKnown {
			m.log.Info("connected to the Kubernetes API server")
		} else {
			m.log.Info("the Kubernetes API server is reachable again; informers resync by themselves",
				zap.Duration("outage", now.Sub(was.Since).Round(time.Millisecond)))
		}
	case err != nil && (!wasKnown || was.Connected):
		m.state = Health{Connected: false, Since: now, Err: err}
		m.connected.Set(0)
		if wasKnown {
			m.disconnects.Inc()
			m.log.Warn("lost the Kubernetes API server; serving the last known state until it returns", zap.Error(err))
		} else {
			m.log.Warn("cannot reach the Kubernetes API server; waiting for it", zap.Error(err))
		}
	case err != nil:
		// Still down: keep the start of the outage, refresh the reason.
		m.state.Err = err
	}
}
