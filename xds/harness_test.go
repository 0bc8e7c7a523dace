package xds

import (
	"context"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/grpc"

	"github.com/pilotlight/pilotlight/translate"
	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/xds/client"
)

// harness runs a Server on 127.0.0.1:0 with a fast debounce, observed
// logs and its own metrics registry.
type harness struct {
	t    testing.TB
	srv  *Server
	reg  *prometheus.Registry
	logs *observer.ObservedLogs
	addr string
	// debug serves the server's DebugHandler.
	debug *httptest.Server
	stop  context.CancelFunc
	done  chan struct{}
	// secretsAuthz is handed to the TLS port (serveTLS), if set first.
	secretsAuthz SecretsAuthorizer
}

type harnessOption func(*Options, *Cache)

// withGenerator makes every flavour use gen.
func withGenerator(gen translate.Generator) harnessOption {
	return func(_ *Options, c *Cache) {
		if c == nil {
			return
		}
		c.generatorFor = func(model.Flavor) (translate.Generator, error) { return gen, nil }
	}
}

func withOptions(f func(*Options)) harnessOption {
	return func(o *Options, _ *Cache) { f(o) }
}

func newHarness(t testing.TB, hopts ...harnessOption) *harness {
	t.Helper()
	core, logs := observer.New(zap.InfoLevel)
	reg := prometheus.NewRegistry()
	opts := Options{Logger: zap.New(core), Registry: reg, Debounce: 5 * time.Millisecond, DebounceMax: 50 * time.Millisecond}
	for _, o := range hopts {
		o(&opts, nil)
	}
	srv := NewServer(opts)
	for _, o := range hopts {
		o(&Options{}, srv.cache)
	}
	g := grpc.NewServer(srv.ServerOptions()...)
	srv.Register(g)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.Serve(lis) }()
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, srv: srv, reg: reg, logs: logs, addr: lis.Addr().String(), stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(h.done)
		_ = srv.Run(ctx)
	}()
	h.debug = httptest.NewServer(srv.DebugHandler())
	t.Cleanup(func() {
		cancel()
		<-h.done
		g.Stop()
		h.debug.Close()
	})
	return h
}

// patience is how long a test waits for something that must happen. It
// bounds a hang, it measures nothing: the race detector on a busy
// two-core machine makes a minting or a push take seconds.
const patience = 30 * time.Second

// install hands the server a snapshot and waits until it is installed
// and its pushes are done.
func (h *harness) install(snap *model.Snapshot) {
	h.t.Helper()
	h.srv.Update(snap, nil)
	deadline := time.Now().Add(patience)
	for {
		if h.srv.cache.pushed.Load() == snap {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("snapshot %s not installed", snap.Version)
		}
		time.Sleep(time.Millisecond)
	}
}

func (h *harness) dial(node *corev3.Node, opts client.Options) *client.Client {
	h.t.Helper()
	c, err := client.Dial(context.Background(), h.addr, node, opts)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	return c
}

// subscribe subscribes c, failing the test if the request cannot be sent.
func subscribe(t testing.TB, c *client.Client, typeURL string, names ...string) {
	t.Helper()
	if err := c.Subscribe(typeURL, names...); err != nil {
		t.Fatal(err)
	}
}

// next returns the client's next update, failing after a timeout.
func next(t testing.TB, c *client.Client) client.Update {
	t.Helper()
	select {
	case u, ok := <-c.Updates():
		if !ok {
			t.Fatalf("stream ended: %v", c.Err())
		}
		return u
	case <-time.After(patience):
		t.Fatalf("no update within %v", patience)
	}
	return client.Update{}
}

// quiet asserts that the client receives nothing for d.
func quiet(t testing.TB, c *client.Client, d time.Duration) {
	t.Helper()
	select {
	case u, ok := <-c.Updates():
		if ok {
			t.Fatalf("unexpected update: %s version %s, %d resources, removed %v", u.TypeURL, u.Version, len(u.Raw), u.Removed)
		}
	case <-time.After(d):
	}
}

// metric returns the value of a counter or gauge with the given labels,
// or the sample count of a histogram; 0 if absent.
func (h *harness) metric(name string, labels map[string]string) float64 {
	h.t.Helper()
	fams, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if !labelsMatch(m, labels) {
				continue
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return 0
}

func labelsMatch(m *dto.Metric, want map[string]string) bool {
	got := map[string]string{}
	for _, l := range m.GetLabel() {
		got[l.GetName()] = l.GetValue()
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}
