package xds

import (
	"fmt"
	"slices"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"

	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/model/modeltest"
	"github.com/pilotlight/pilotlight/translate/resource"
	"github.com/pilotlight/pilotlight/xds/client"
	"github.com/pilotlight/pilotlight/xds/xdstest"
)

// TestProxiesWithDifferentViewsNeverShare connects proxies that differ
// from a base proxy in one thing each and checks that every cluster each
// one receives was built for its own view, never for another's.
func TestProxiesWithDifferentViewsNeverShare(t *testing.T) {
	gen := &fakeGen{}
	h := newHarness(t, withGenerator(gen))
	h.install(modeltest.Mesh{Services: 5, Endpoints: 1, Namespaces: 2}.Build())

	base := xdstest.Node{Pod: "a", Namespace: "ns-0", IP: "10.1.0.1", ServiceAccount: "sa-a", Labels: map[string]string{"app": "a"}}
	variants := map[string]xdstest.Node{"base": base}
	v := base
	v.Namespace = "ns-1"
	variants["namespace"] = v
	v = base
	v.ServiceAccount = "sa-b"
	variants["service account"] = v
	v = base
	v.Labels = map[string]string{"app": "b"}
	variants["labels"] = v
	v = base
	v.IP = "10.1.0.2"
	variants["ip"] = v
	v = base
	v.Type = "router"
	variants["type"] = v
	v = base
	v.Generator = model.GeneratorGRPC
	variants["proxyless"] = v

	for name, n := range variants {
		c := h.dial(n.Proto(), client.Options{})
		subscribe(t, c, resource.ClusterType)
		u := next(t, c)
		p, err := model.ParseProxy(n.Proto())
		if err != nil {
			t.Fatal(err)
		}
		ov, iv := model.ViewsOf(p)
		for cname, m := range u.Resources {
			want := outboundMarker(ov)
			if cname == resource.InboundClusterName(8080) {
				want = inboundMarker(iv)
			}
			if got := m.(*clusterv3.Cluster).GetAltStatName(); got != want {
				t.Errorf("%s proxy: cluster %s built for %q, want %q", name, cname, got, want)
			}
		}
		if len(u.Resources) != 6 {
			t.Errorf("%s proxy: %d clusters, want 6", name, len(u.Resources))
		}
	}
}

// TestProxiesWithOneViewShareGeneration connects many proxies with equal
// views: the resources are generated once and served from the cache to
// the rest.
func TestProxiesWithOneViewShareGeneration(t *testing.T) {
	gen := &fakeGen{}
	h := newHarness(t, withGenerator(gen))
	h.install(modeltest.Mesh{Services: 30, Endpoints: 2}.Build())

	const proxies = 10
	for i := range proxies {
		// Same namespace, address, labels and account: pod names differ
		// but are not part of the view.
		n := xdstest.Node{Pod: fmt.Sprintf("replica-%d", i), Namespace: "ns-0", IP: "10.1.0.1", ServiceAccount: "sa", Labels: map[string]string{"app": "a"}}
		c := h.dial(n.Proto(), client.Options{Raw: true})
		subscribe(t, c, resource.ClusterType)
		if u := next(t, c); len(u.Raw) != 31 {
			t.Fatalf("proxy %d: %d clusters, want 31", i, len(u.Raw))
		}
	}
	if got := h.metric("pilotlight_xds_generated_resources_total", map[string]string{"type": "cds"}); got != 31 {
		t.Errorf("generated clusters = %v, want 31 (one generation for all proxies)", got)
	}
	if got := h.metric("pilotlight_xds_cache_hits_total", map[string]string{"type": "cds"}); got != 31*(proxies-1) {
		t.Errorf("cluster cache hits = %v, want %d", got, 31*(proxies-1))
	}
	if out, in := gen.outboundCalls.Load(), gen.inboundCalls.Load(); out != 1 || in != 1 {
		t.Errorf("generator called %d times outbound, %d inbound; want once each", out, in)
	}
}

func TestInvalidResourceIsDroppedAndCounted(t *testing.T) {
	gen := &fakeGen{}
	h := newHarness(t, withGenerator(gen))
	b := modeltest.Mesh{Services: 3, Endpoints: 1}.Builder()
	b.AddService(&model.Service{Hostname: "bad-one.ns-0.svc.cluster.local", Name: "bad-one", Namespace: "ns-0"})
	h.install(b.Build())
	c := h.dial(sidecarNode("a", "ns-0", "10.1.0.1").Proto(), client.Options{})
	subscribe(t, c, resource.ClusterType)
	u := next(t, c)
	if _, ok := u.Resources[resource.OutboundClusterName(8080, "", "bad-one.ns-0.svc.cluster.local")]; ok {
		t.Error("the invalid cluster was sent")
	}
	if len(u.Resources) != 4 {
		t.Errorf("got %d clusters, want the 4 valid ones", len(u.Resources))
	}
	if got := h.metric("pilotlight_xds_invalid_resources_total", map[string]string{"type": "cds"}); got != 1 {
		t.Errorf("invalid resources = %v, want 1", got)
	}
	if n := h.logs.FilterMessage("generated resource is invalid; not sent").Len(); n != 1 {
		t.Errorf("%d invalid-resource log lines, want 1", n)
	}
}

// TestEndpointsSharedAcrossNamespaces: load assignments do not depend on
// the proxy's namespace (translate.OutboundScope), so sidecars in ten
// namespaces cause one EDS generation, while their clusters are built per
// namespace.
func TestEndpointsSharedAcrossNamespaces(t *testing.T) {
	h := newHarness(t)
	snap := modeltest.Mesh{Services: 20, Endpoints: 2}.Build()
	h.install(snap)
	const namespaces = 10
	var eds []string
	for i := range namespaces {
		n := xdstest.Node{Pod: fmt.Sprintf("p-%d", i), Namespace: fmt.Sprintf("team-%d", i), IP: fmt.Sprintf("10.9.0.%d", i+1)}
		c := h.dial(n.Proto(), client.Options{Raw: true})
		subscribe(t, c, resource.ClusterType)
		if u := next(t, c); len(u.Raw) == 0 {
			t.Fatal("no clusters")
		}
		if eds == nil {
			eds = slices.Sorted(mapKeys(reference(t, snap, n, resource.EndpointType, nil)))
		}
		subscribe(t, c, resource.EndpointType, eds...)
		if u := next(t, c); len(u.Raw) != len(eds) {
			t.Fatalf("namespace %d: %d assignments, want %d", i, len(u.Raw), len(eds))
		}
	}
	if got := h.metric("pilotlight_xds_generated_resources_total", map[string]string{"type": "eds"}); got != float64(len(eds)) {
		t.Errorf("generated assignments = %v, want %d (one generation for every namespace)", got, len(eds))
	}
}

// TestNarrowedEntriesSurviveEndpointChanges: a sidecar's labels leave its
// outbound view when no selector reads them (translate.OutboundScope), so
// its clusters are cached under the narrowed key. While a stream uses
// that key, an endpoint-only change must carry the entry over: a sidecar
// connecting afterwards with other labels is served from it, not from a
// new generation.
func TestNarrowedEntriesSurviveEndpointChanges(t *testing.T) {
	h := newHarness(t)
	mesh := modeltest.Mesh{Services: 20, Endpoints: 2}
	h.install(mesh.Build())
	first := h.dial(sidecarNode("first", "ns-0", "10.9.0.1").Proto(), client.Options{Raw: true})
	subscribe(t, first, resource.ClusterType)
	clusters := len(next(t, first).Raw)

	b := mesh.Builder()
	b.AddEndpoints(modeltest.Endpoint(modeltest.Hostname("svc-3", "ns-0"), "ns-0", "10.250.0.1", 1))
	h.install(b.Build())

	second := h.dial(sidecarNode("second", "ns-0", "10.9.0.2").Proto(), client.Options{Raw: true})
	subscribe(t, second, resource.ClusterType)
	if got := len(next(t, second).Raw); got != clusters {
		t.Fatalf("second sidecar got %d clusters, want %d", got, clusters)
	}
	if got := h.metric("pilotlight_xds_generated_resources_total", map[string]string{"type": "cds"}); got != float64(clusters) {
		t.Errorf("generated clusters = %v, want %d: the endpoint change dropped the entry the first stream uses", got, clusters)
	}
}
