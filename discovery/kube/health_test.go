package kube

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	k8stesting "k8s.io/client-go/testing"
)

// metric returns the value of a gauge or counter without labels.
func (e *env) metric(name string) float64 {
	e.t.Helper()
	fams, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name {
			m := f.GetMetric()[0]
			if m.GetGauge() != nil {
				return m.GetGauge().GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	e.t.Fatalf("metric %s not registered", name)
	return 0
}

// eventually retries check until it passes or the wait is over.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestOutageReported: when the health probe fails the outage is logged
// once, counted, and visible in Health, while the last state stays
// published; when it answers again the end is logged with its duration.
func TestOutageReported(t *testing.T) {
	e := newEnv(t, nil, service("demo", "web", "10.96.0.10"))
	e.start()
	e.next()
	eventually(t, "connected", func() error {
		if !e.src.Health().Connected || e.metric("pilotlight_kube_connected") != 1 {
			return errors.New("not connected")
		}
		return nil
	})

	e.probe.set(errors.New("dial tcp 10.0.0.1:443: connect: connection refused"))
	eventually(t, "outage detected", func() error {
		if h := e.src.Health(); h.Connected {
			return errors.New("still connected")
		}
		return nil
	})
	h := e.src.Health()
	if err := h.Error(); err == nil || !strings.Contains(err.Error(), "unreachable since") || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("Health().Error() = %v, want when and why", err)
	}
	time.Sleep(100 * time.Millisecond) // several failed probes
	if got := e.src.Health(); !got.Since.Equal(h.Since) {
		t.Errorf("outage start moved from %v to %v while the outage lasted", h.Since, got.Since)
	}
	if got := e.metric("pilotlight_kube_connected"); got != 0 {
		t.Errorf("pilotlight_kube_connected = %v during the outage", got)
	}
	if got := e.metric("pilotlight_kube_disconnects_total"); got != 1 {
		t.Errorf("pilotlight_kube_disconnects_total = %v, want 1", got)
	}
	if n := e.logs.FilterMessageSnippet("lost the Kubernetes API server").Len(); n != 1 {
		t.Errorf("%d outage log lines, want 1", n)
	}

	e.probe.set(nil)
	eventually(t, "reconnected", func() error {
		if !e.src.Health().Connected || e.metric("pilotlight_kube_connected") != 1 {
			return errors.New("still disconnected")
		}
		return nil
	})
	back := e.logs.FilterMessageSnippet("reachable again").All()
	if len(back) != 1 || back[0].ContextMap()["outage"] == nil {
		t.Errorf("reconnection logged as %v, want one line with the outage's duration", back)
	}
	e.quiet(100 * time.Millisecond)
}

// link simulates the connection between the source and a fake API
// server: cut, every list and watch fails and the open watches end, so
// informers retry and relist when it comes back, as after a real outage.
type link struct {
	e    *env
	down atomic.Bool

	mu       sync.Mutex
	watchers []watch.Interface
	lists    map[string]int // successful lists by resource
}

func newLink(e *env) *link {
	l := &link{e: e, lists: map[string]int{}}
	e.kube.PrependReactor("list", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if l.down.Load() {
			return true, nil, errors.New("the link to the API server is cut")
		}
		l.mu.Lock()
		l.lists[a.GetResource().Resource]++
		l.mu.Unlock()
		return false, nil, nil
	})
	e.kube.PrependWatchReactor("*", func(a k8stesting.Action) (bool, watch.Interface, error) {
		if l.down.Load() {
			return true, nil, errors.New("the link to the API server is cut")
		}
		var opts metav1.ListOptions
		if wa, ok := a.(k8stesting.WatchActionImpl); ok {
			opts = wa.ListOptions
		}
		w, err := e.kube.Tracker().Watch(a.GetResource(), a.GetNamespace(), opts)
		if err != nil {
			return true, nil, err
		}
		l.mu.Lock()
		l.watchers = append(l.watchers, w)
		l.mu.Unlock()
		return true, w, nil
	})
	return l
}

func (l *link) cut() {
	l.down.Store(true)
	l.e.probe.set(errors.New("the link to the API server is cut"))
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, w := range l.watchers {
		w.Stop()
	}
	l.watchers = nil
	l.lists = map[string]int{}
}

// restore brings the link back and waits until the Pod, Service and
// EndpointSlice informers have listed again.
func (l *link) restore() {
	l.e.t.Helper()
	l.down.Store(false)
	l.e.probe.set(nil)
	eventually(l.e.t, "informers relist", func() error {
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, r := range []string{"pods", "services", "endpointslices"} {
			if l.lists[r] == 0 {
				return fmt.Errorf("%s not listed again yet", r)
			}
		}
		return nil
	})
}

// TestRelistPushesOnlyChanges: after an outage the informers relist and
// re-deliver every object; the Snapshot version is a content hash, so
// that publishes nothing when nothing changed, and exactly the change
// when something did.
func TestRelistPushesOnlyChanges(t *testing.T) {
	e := newEnv(t, nil,
		service("demo", "web", "10.96.0.10"),
		slice("demo", "web", "web-a", discoveryv1.AddressTypeIPv4, "10.1.0.1"),
		pod("demo", "web", 0, "10.1.0.1", "web-sa"),
	)
	l := newLink(e)
	e.start()
	first := e.next()

	builds := e.metric("pilotlight_kube_snapshot_builds_total")
	l.cut()
	time.Sleep(100 * time.Millisecond)
	l.restore()
	eventually(t, "a build after the relist", func() error {
		if e.metric("pilotlight_kube_snapshot_builds_total") == builds {
			return errors.New("the relist built nothing: it was not seen")
		}
		return nil
	})
	e.quiet(300 * time.Millisecond)
	if got := e.metric("pilotlight_kube_snapshots_published_total"); got != 1 {
		t.Errorf("pilotlight_kube_snapshots_published_total = %v after an outage that changed nothing, want 1", got)
	}
	if e.metric("pilotlight_kube_disconnects_total") != 1 {
		t.Error("the outage was not counted")
	}

	// A change made while the link is down arrives with the relist.
	l.cut()
	grown := slice("demo", "web", "web-a", discoveryv1.AddressTypeIPv4, "10.1.0.1", "10.1.0.2")
	if err := e.kube.Tracker().Update(discoveryv1.SchemeGroupVersion.WithResource("endpointslices"), grown, "demo"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	l.restore()
	p := e.next()
	if err := wantEndpoints(webHost, "10.1.0.1:8080 HEALTHY", "10.1.0.2:8080 HEALTHY")(p); err != nil {
		t.Error(err)
	}
	if p.snap.Version == first.snap.Version {
		t.Error("a changed mesh kept its version")
	}
	e.quiet(300 * time.Millisecond)
}

// TestUnchangedContentPublishesNothing: an update that changes nothing
// the Snapshot holds (an annotation pilotlight does not read) is built
// and dropped, not published.
func TestUnchangedContentPublishesNothing(t *testing.T) {
	svc := service("demo", "web", "10.96.0.10")
	e := newEnv(t, nil, svc, pod("demo", "web", 0, "10.1.0.1", "web-sa"))
	e.start()
	e.next()
	e.quiet(100 * time.Millisecond) // the builds that follow start-up
	builds := e.metric("pilotlight_kube_snapshot_builds_total")
	svc = svc.DeepCopy()
	svc.Annotations = map[string]string{"owner": "team-a"}
	if _, err := e.kube.CoreV1().Services("demo").Update(t.Context(), svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a build after the update", func() error {
		if e.metric("pilotlight_kube_snapshot_builds_total") == builds {
			return errors.New("no build yet")
		}
		return nil
	})
	e.quiet(300 * time.Millisecond)
}
