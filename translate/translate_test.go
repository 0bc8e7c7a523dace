package translate_test

import (
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	typev1beta1 "istio.io/api/type/v1beta1"

	"github.com/pilotlight/pilotlight/translate"
	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/model/modeltest"
	"github.com/pilotlight/pilotlight/translate/resource"
)

var allTypes = []string{resource.ListenerType, resource.RouteType, resource.ClusterType, resource.EndpointType}

func proxies() map[string]*model.Proxy {
	ep := modeltest.PodIP(3*4 + 1) // a pod of svc-3 in a mesh with 4 endpoints per service
	return map[string]*model.Proxy{
		"sidecar": {Type: model.SidecarProxy, Namespace: "ns-0", IPAddresses: []string{ep}},
		"router":  {Type: model.Router, Namespace: "ns-0", IPAddresses: []string{"10.1.1.1"}},
		"grpc":    {Type: model.SidecarProxy, Generator: model.GeneratorGRPC, Namespace: "ns-1", IPAddresses: []string{ep}},
	}
}

// Every resource every generator can produce passes Envoy's own
// validation rules, and generation is deterministic.
func TestGeneratedResourcesValidate(t *testing.T) {
	snap := modeltest.Mesh{Namespaces: 3, Services: 30, Endpoints: 4}.Build()
	grpcNames := []string{"svc-1:8080", "svc-4.ns-1:8080", "svc-2.ns-2.svc.cluster.local:8080", resource.GRPCInboundListenerPrefix + "0.0.0.0:8080"}
	for name, p := range proxies() {
		for _, typ := range allTypes {
			var names []string
			if p.Proxyless() && typ == resource.ListenerType {
				names = grpcNames
			}
			rs, err := translate.Generate(snap, p, typ, names)
			if err != nil {
				t.Fatal(err)
			}
			if p.Proxyless() && typ == resource.ListenerType && len(rs) != len(grpcNames) {
				t.Errorf("%s: got %d listeners for %d names", name, len(rs), len(grpcNames))
			}
			for _, r := range rs {
				if err := translate.Validate(r.Message); err != nil {
					t.Errorf("%s %s %s: %v", name, typ, r.Name, err)
				}
			}
		}
	}
}

// A proxyless client's short names resolve only from its own namespace,
// and unknown names or ports produce nothing rather than a guess.
func TestProxylessListenerNames(t *testing.T) {
	snap := modeltest.Mesh{Namespaces: 2, Services: 4, Endpoints: 1}.Build()
	p := &model.Proxy{Type: model.SidecarProxy, Generator: model.GeneratorGRPC, Namespace: "ns-1", IPAddresses: []string{"10.0.0.1"}}
	for name, want := range map[string]bool{
		"svc-1:8080":                        true,
		"svc-1":                             true, // one port: the port may be omitted
		"svc-0:8080":                        false,
		"svc-0.ns-0:8080":                   true,
		"svc-0.ns-0.svc.cluster.local:8080": true,
		"svc-1:9999":                        false,
		"nothere.ns-1:8080":                 false,
		resource.GRPCInboundListenerPrefix + "[::]:8080":  true,
		resource.GRPCInboundListenerPrefix + "10.0.0.1:x": false,
	} {
		rs, err := translate.Generate(snap, p, resource.ListenerType, []string{name})
		if err != nil {
			t.Fatal(err)
		}
		if got := len(rs) == 1 && rs[0].Name == name; got != want {
			t.Errorf("listener %q generated = %v, want %v", name, got, want)
		}
	}
}

// The benchmark load of shared/DESIGN.md: 1,000 services, 10 endpoints each.
var benchMesh = modeltest.Mesh{Namespaces: 10, Services: 1000, Endpoints: 10}

func BenchmarkTranslateSidecar(b *testing.B) {
	snap := benchMesh.Build()
	p := proxies()["sidecar"]
	b.ReportAllocs()
	var bytes int
	for b.Loop() {
		bytes = 0
		for _, typ := range allTypes {
			rs, err := translate.Generate(snap, p, typ, nil)
			if err != nil {
				b.Fatal(err)
			}
			for _, r := range rs {
				bytes += len(resource.Any(r.Message).GetValue())
			}
		}
	}
	b.ReportMetric(float64(bytes), "config-bytes")
}

func BenchmarkTranslateProxyless(b *testing.B) {
	snap := benchMesh.Build()
	p := proxies()["grpc"]
	b.ReportAllocs()
	for b.Loop() {
		for _, typ := range allTypes {
			var names []string
			if typ == resource.ListenerType {
				names = []string{"svc-1:8080"}
			}
			if _, err := translate.Generate(snap, p, typ, names); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkTranslatePolicies: the same load, every service with a
// VirtualService and a DestinationRule (two subsets), for a sidecar with
// and without a Sidecar resource scoping it to its own namespace.
func BenchmarkTranslatePolicies(b *testing.B) {
	for _, scoped := range []bool{false, true} {
		name := "unscoped"
		builder := benchMesh.Builder()
		benchMesh.AddTrafficPolicies(builder)
		if scoped {
			name = "sidecar-scoped"
			builder.AddConfig(&model.Config{Kind: model.KindSidecar, Namespace: "ns-0", Name: "default", Spec: &networkingv1alpha3.Sidecar{
				Egress: []*networkingv1alpha3.IstioEgressListener{{Hosts: []string{"./*"}}},
			}})
		}
		snap := builder.Build()
		p := &model.Proxy{Type: model.SidecarProxy, Namespace: "ns-0", IPAddresses: []string{modeltest.PodIP(0)}}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			var bytes int
			for b.Loop() {
				bytes = envoyConfigBytes(b, snap, p)
			}
			b.ReportMetric(float64(bytes), "config-bytes")
		})
	}
}

// envoyConfigBytes generates what Envoy would ask for — clusters and
// listeners, then the routes and endpoints they name — and returns its
// serialized size.
func envoyConfigBytes(tb testing.TB, snap *model.Snapshot, p *model.Proxy) int {
	gen := func(typ string, names []string) []proto.Message {
		rs, err := translate.Generate(snap, p, typ, names)
		if err != nil {
			tb.Fatal(err)
		}
		out := make([]proto.Message, len(rs))
		for i, r := range rs {
			out[i] = r.Message
		}
		return out
	}
	clusters, listeners := gen(resource.ClusterType, nil), gen(resource.ListenerType, nil)
	all := append(append(clusters, listeners...), gen(resource.RouteType, resource.RouteNames(listeners))...)
	all = append(all, gen(resource.EndpointType, resource.EDSNames(clusters))...)
	bytes := 0
	for _, m := range all {
		bytes += proto.Size(m)
	}
	return bytes
}

// Outbound config depends on a client's labels only through the keys
// some selector reads: proxies differing in other labels share every
// outbound type, proxies differing in a selected one do not, and what
// the narrowed view generates is what the full view does.
func TestOutboundScopeNarrowsLabels(t *testing.T) {
	plain := modeltest.Mesh{Namespaces: 2, Services: 4, Endpoints: 2}.Builder()
	selecting := modeltest.Mesh{Namespaces: 2, Services: 4, Endpoints: 2}.Builder()
	selecting.AddConfig(&model.Config{Kind: model.KindDestinationRule, Namespace: "ns-0", Name: "canary", Spec: &networkingv1alpha3.DestinationRule{
		Host:             "svc-0",
		WorkloadSelector: &typev1beta1.WorkloadSelector{MatchLabels: map[string]string{"track": "canary"}},
		Subsets:          []*networkingv1alpha3.Subset{{Name: "v1", Labels: map[string]string{"version": "v1"}}},
	}})
	proxy := func(flavor string, labels map[string]string) *model.Proxy {
		p := &model.Proxy{Type: model.SidecarProxy, Namespace: "ns-0", IPAddresses: []string{"10.0.0.1"}, Labels: labels}
		if flavor == "grpc" {
			p.Generator = model.GeneratorGRPC
		}
		return p
	}
	base := map[string]string{"app": "web", "track": "stable", "pod-template-hash": "abc"}
	otherHash := map[string]string{"app": "web", "track": "stable", "pod-template-hash": "def"}
	otherTrack := map[string]string{"app": "web", "track": "canary", "pod-template-hash": "abc"}
	for _, flavor := range []string{"sidecar", "grpc"} {
		for _, tt := range []struct {
			name      string
			snap      *model.Snapshot
			other     map[string]string
			wantShare bool
		}{
			{"no selectors, other selected-nowhere label", plain.Build(), otherTrack, true},
			{"other unselected label", selecting.Build(), otherHash, true},
			{"other selected label", selecting.Build(), otherTrack, false},
		} {
			a, _ := model.ViewsOf(proxy(flavor, base))
			b, _ := model.ViewsOf(proxy(flavor, tt.other))
			for _, typ := range []string{resource.ListenerType, resource.RouteType, resource.ClusterType} {
				sa, _ := translate.OutboundScope(tt.snap, a, typ)
				sb, _ := translate.OutboundScope(tt.snap, b, typ)
				if shared := sa.Key() == sb.Key(); shared != tt.wantShare {
					t.Errorf("%s, %s, %s: shared = %v, want %v", flavor, tt.name, typ, shared, tt.wantShare)
				}
				gen, err := translate.For(sa.Flavor)
				if err != nil {
					t.Fatal(err)
				}
				if !sameResources(gen.Outbound(tt.snap, sa, typ), gen.Outbound(tt.snap, a, typ)) {
					t.Errorf("%s, %s, %s: the narrowed view generates other config than the full one", flavor, tt.name, typ)
				}
			}
		}
	}
	// The selected label does change the config: the canary's rule
	// defines a subset the others do not get.
	snap := selecting.Build()
	gen, err := translate.For(model.FlavorSidecar)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		labels map[string]string
		want   bool
	}{{base, false}, {otherTrack, true}} {
		v, _ := model.ViewsOf(proxy("sidecar", tt.labels))
		v, _ = translate.OutboundScope(snap, v, resource.ClusterType)
		got := slices.ContainsFunc(gen.Outbound(snap, v, resource.ClusterType), func(r translate.Resource) bool {
			return r.Name == "outbound|8080|v1|svc-0.ns-0.svc.cluster.local"
		})
		if got != tt.want {
			t.Errorf("labels %v: subset cluster present = %v, want %v", tt.labels, got, tt.want)
		}
	}
}

func sameResources(a, b []translate.Resource) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || !proto.Equal(a[i].Message, b[i].Message) {
			return false
		}
	}
	return true
}

// The client's locality is part of the endpoint view only when some rule
// balances by locality, and never of the other types'.
func TestOutboundScopeKeepsLocalityForEndpointsOnly(t *testing.T) {
	plain := modeltest.Mesh{Namespaces: 1, Services: 2, Endpoints: 2}.Build()
	b := modeltest.Mesh{Namespaces: 1, Services: 2, Endpoints: 2}.Builder()
	b.AddConfig(&model.Config{Kind: model.KindDestinationRule, Namespace: "ns-0", Name: "failover", Spec: &networkingv1alpha3.DestinationRule{
		Host:          "svc-0",
		TrafficPolicy: &networkingv1alpha3.TrafficPolicy{OutlierDetection: &networkingv1alpha3.OutlierDetection{}},
	}})
	failover := b.Build()
	view := func(zone string) model.OutboundView {
		v, _ := model.ViewsOf(&model.Proxy{Type: model.SidecarProxy, Namespace: "ns-0", IPAddresses: []string{"10.0.0.1"},
			Locality: model.Locality{Region: "r", Zone: zone}})
		return v
	}
	for _, tt := range []struct {
		name      string
		snap      *model.Snapshot
		typ       string
		wantShare bool
	}{
		{"no locality rules, endpoints", plain, resource.EndpointType, true},
		{"failover, endpoints", failover, resource.EndpointType, false},
		{"failover, clusters", failover, resource.ClusterType, true},
		{"failover, listeners", failover, resource.ListenerType, true},
	} {
		a, _ := translate.OutboundScope(tt.snap, view("a"), tt.typ)
		c, _ := translate.OutboundScope(tt.snap, view("b"), tt.typ)
		if shared := a.Key() == c.Key(); shared != tt.wantShare {
			t.Errorf("%s: proxies in two zones share = %v, want %v", tt.name, shared, tt.wantShare)
		}
		gen, err := translate.For(model.FlavorSidecar)
		if err != nil {
			t.Fatal(err)
		}
		if full := view("a"); !sameResources(gen.Outbound(tt.snap, a, tt.typ), gen.Outbound(tt.snap, full, tt.typ)) {
			t.Errorf("%s: the narrowed view generates other config than the full one", tt.name)
		}
	}
}

// The workload SDS opt-in splits the views of the types that name
// secrets (clusters, listeners) and no other: routes, endpoints and a
// router's secrets generated for the narrowed view are the full view's.
func TestOutboundScopeWorkloadSDS(t *testing.T) {
	snap := modeltest.Mesh{Namespaces: 1, Services: 2, Endpoints: 2}.Build()
	for _, typ := range []model.NodeType{model.SidecarProxy, model.Router} {
		p := &model.Proxy{Type: typ, Namespace: "ns-0", IPAddresses: []string{"10.0.0.1"}}
		agent, _ := model.ViewsOf(p)
		p.WorkloadSDS = true
		plain, _ := model.ViewsOf(p)
		gen, err := translate.For(plain.Flavor)
		if err != nil {
			t.Fatal(err)
		}
		for _, typeURL := range []string{resource.ClusterType, resource.ListenerType, resource.RouteType, resource.EndpointType, resource.SecretType} {
			sa, _ := translate.OutboundScope(snap, agent, typeURL)
			sp, _ := translate.OutboundScope(snap, plain, typeURL)
			split := typeURL == resource.ClusterType || typeURL == resource.ListenerType
			if shared := sa.Key() == sp.Key(); shared == split {
				t.Errorf("%s, %s: shared = %v, want %v", typ, typeURL, shared, !split)
			}
			if !split && !sameResources(gen.Outbound(snap, sp, typeURL), gen.Outbound(snap, plain, typeURL)) {
				t.Errorf("%s, %s: the narrowed view generates other config than the full one", typ, typeURL)
			}
		}
	}
}
