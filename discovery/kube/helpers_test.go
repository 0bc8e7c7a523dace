package kube

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	istiofake "istio.io/client-go/pkg/clientset/versioned/fake"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kubefake "k8s.io/client-go/kubernetes/fake"

	"github.com/pilotlight/pilotlight/discovery/convert"
	"github.com/pilotlight/pilotlight/translate/model"
)

// wait bounds every wait for something that should happen; a test that
// fails waits this long once, a passing one much less.
const wait = 10 * time.Second

// env is a Source running on fake clients, and what it published.
type env struct {
	t     *testing.T
	kube  *kubefake.Clientset
	istio *istiofake.Clientset
	disc  *fakeDiscovery
	probe *fakeProbe
	reg   *prometheus.Registry
	logs  *observer.ObservedLogs
	src   *Source
	pubs  chan published
}

type published struct {
	snap     *model.Snapshot
	problems []model.Problem
}

// newEnv builds a Source over fake clients holding objs, with every Istio
// CRD present. configure may change the options before New.
func newEnv(t *testing.T, configure func(*Options), objs ...runtime.Object) *env {
	t.Helper()
	var kubeObjs, istioObjs []runtime.Object
	for _, o := range objs {
		if _, _, ok := convert.IstioSpec(o); ok {
			istioObjs = append(istioObjs, o)
		} else {
			kubeObjs = append(kubeObjs, o)
		}
	}
	core, logs := observer.New(zapcore.DebugLevel)
	e := &env{
		t:     t,
		kube:  kubefake.NewClientset(kubeObjs...),
		istio: istiofake.NewSimpleClientset(istioObjs...),
		disc:  newFakeDiscovery(),
		probe: &fakeProbe{},
		reg:   prometheus.NewRegistry(),
		logs:  logs,
		pubs:  make(chan published, 100),
	}
	for _, k := range istioKinds {
		e.disc.add(k.gvr)
	}
	opts := Options{
		Logger:          zap.New(zapcore.NewTee(core, zapTestCore(t))),
		Kube:            e.kube,
		Istio:           e.istio,
		Discovery:       e.disc,
		Registry:        e.reg,
		Probe:           e.probe.check,
		HealthInterval:  20 * time.Millisecond,
		HealthTimeout:   100 * time.Millisecond,
		CRDPollInterval: 20 * time.Millisecond,
	}
	if configure != nil {
		configure(&opts)
	}
	e.src = New(opts)
	return e
}

// start runs the Source until the test ends.
func (e *env) start() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- e.src.Run(ctx, func(s *model.Snapshot, p []model.Problem) { e.pubs <- published{s, p} })
	}()
	e.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				e.t.Errorf("Run: %v", err)
			}
		case <-time.After(wait):
			e.t.Errorf("Run did not return within %v of its context ending", wait)
		}
	})
}

// next returns the next publication.
func (e *env) next() published {
	e.t.Helper()
	select {
	case p := <-e.pubs:
		return p
	case <-time.After(wait):
		e.t.Fatalf("nothing published within %v", wait)
		return published{}
	}
}

// until returns the first publication that passes check, failing the test
// with the last check's error if none does in time.
func (e *env) until(what string, check func(published) error) published {
	e.t.Helper()
	deadline := time.After(wait)
	err := errors.New("nothing published")
	for {
		select {
		case p := <-e.pubs:
			if err = check(p); err == nil {
				return p
			}
		case <-deadline:
			e.t.Fatalf("%s: %v", what, err)
			return published{}
		}
	}
}

// quiet fails the test if anything is published within d.
func (e *env) quiet(d time.Duration) {
	e.t.Helper()
	select {
	case p := <-e.pubs:
		e.t.Fatalf("published version %s with %d problems; want nothing", p.snap.Version, len(p.problems))
	case <-time.After(d):
	}
}

// buildsSettled waits until the source has stopped building (no build and
// no publication for a while, however slow the machine) and returns the
// number of builds so far.
func (e *env) buildsSettled() float64 {
	e.t.Helper()
	const still = 300 * time.Millisecond
	deadline := time.Now().Add(wait)
	builds := e.metric("pilotlight_kube_snapshot_builds_total")
	for {
		e.quiet(still)
		now := e.metric("pilotlight_kube_snapshot_builds_total")
		if now == builds {
			return now
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("the source kept building for %v", wait)
		}
		builds = now
	}
}

// fakeDiscovery serves the API resource lists of the CRDs a test says
// exist.
type fakeDiscovery struct {
	mu      sync.Mutex
	present map[schema.GroupVersionResource]bool
}

func newFakeDiscovery() *fakeDiscovery {
	return &fakeDiscovery{present: map[schema.GroupVersionResource]bool{}}
}

func (d *fakeDiscovery) add(gvr schema.GroupVersionResource) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.present[gvr] = true
}

func (d *fakeDiscovery) remove(group string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for gvr := range d.present {
		if gvr.Group == group {
			delete(d.present, gvr)
		}
	}
}

func (d *fakeDiscovery) ServerResourcesForGroupVersionWithContext(_ context.Context, gv string) (*metav1.APIResourceList, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	list := &metav1.APIResourceList{GroupVersion: gv}
	for gvr := range d.present {
		if gvr.GroupVersion().String() == gv {
			list.APIResources = append(list.APIResources, metav1.APIResource{Name: gvr.Resource, Namespaced: true})
		}
	}
	if len(list.APIResources) == 0 {
		return nil, apierrors.NewNotFound(schema.GroupResource{}, gv)
	}
	return list, nil
}

// fakeProbe answers the health probe with the error a test sets.
type fakeProbe struct {
	mu  sync.Mutex
	err error
}

func (p *fakeProbe) set(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.err = err
}

func (p *fakeProbe) check(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// zapTestCore logs to the test's log.
func zapTestCore(t *testing.T) zapcore.Core {
	enc := zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig())
	return zapcore.NewCore(enc, zapcore.AddSync(testWriter{t}), zapcore.DebugLevel)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// endpointsOf lists a service's endpoints as "ADDR:PORT HEALTH" strings.
func endpointsOf(s *model.Snapshot, host string) []string {
	var out []string
	for _, ep := range s.Endpoints(host) {
		out = append(out, fmt.Sprintf("%s:%d %s", ep.Address, ep.Port, ep.Health))
	}
	return out
}
