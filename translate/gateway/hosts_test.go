package gateway

import (
	"slices"
	"testing"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/pilotlight/pilotlight/translate/model"
)

func TestIntersect(t *testing.T) {
	for _, tc := range []struct {
		server, vs, want []string
	}{
		{[]string{"*.example.com"}, []string{"a.example.com", "b.other.com"}, []string{"a.example.com"}},
		{[]string{"a.example.com"}, []string{"*"}, []string{"a.example.com"}},
		{[]string{"*"}, []string{"*.example.com"}, []string{"*.example.com"}},
		{[]string{"*.example.com"}, []string{"*.a.example.com"}, []string{"*.a.example.com"}},
		{[]string{"*.a.example.com"}, []string{"*.example.com"}, []string{"*.a.example.com"}},
		{[]string{"a.example.com"}, []string{"b.example.com"}, nil},
		{[]string{"*.example.com", "a.example.com"}, []string{"a.example.com"}, []string{"a.example.com"}},
	} {
		if got := intersect(tc.server, tc.vs); !slices.Equal(got, tc.want) {
			t.Errorf("intersect(%v, %v) = %v, want %v", tc.server, tc.vs, got, tc.want)
		}
	}
}

func TestServerHostNamespaces(t *testing.T) {
	hosts := sanitizeHosts([]string{"./a.example.com", "*/b.example.com", "other/c.example.com", "d.example.com"}, "shop")
	if want := []string{"shop/a.example.com", "b.example.com", "other/c.example.com", "d.example.com"}; !slices.Equal(hosts, want) {
		t.Fatalf("sanitizeHosts = %v, want %v", hosts, want)
	}
	if got, want := hostsForNamespace(hosts, "shop"), []string{"a.example.com", "b.example.com", "d.example.com"}; !slices.Equal(got, want) {
		t.Errorf("hostsForNamespace(shop) = %v, want %v", got, want)
	}
	if got, want := hostsForNamespace(hosts, "other"), []string{"b.example.com", "c.example.com", "d.example.com"}; !slices.Equal(got, want) {
		t.Errorf("hostsForNamespace(other) = %v, want %v", got, want)
	}
	if got := sanitizeHosts([]string{"a.example.com", "*/*"}, "shop"); !slices.Equal(got, []string{"*"}) {
		t.Errorf("*/* sanitizes to %v, want [*]", got)
	}
}

// Servers that would make Envoy reject a listener are left out the way
// istiod leaves them out; the rest merge by port.
func TestMergeGateways(t *testing.T) {
	server := func(port uint32, name, protocol string, hosts []string, tls *networkingv1alpha3.ServerTLSSettings) *networkingv1alpha3.Server {
		return &networkingv1alpha3.Server{Port: &networkingv1alpha3.Port{Number: port, Name: name, Protocol: protocol}, Hosts: hosts, Tls: tls}
	}
	simple := func(cred string) *networkingv1alpha3.ServerTLSSettings {
		return &networkingv1alpha3.ServerTLSSettings{Mode: networkingv1alpha3.ServerTLSSettings_SIMPLE, CredentialName: cred}
	}
	a := &model.Config{Kind: model.KindGateway, Namespace: "ns", Name: "a", Spec: &networkingv1alpha3.Gateway{Servers: []*networkingv1alpha3.Server{
		server(80, "http", "HTTP", []string{"a.example.com"}, nil),
		server(443, "https-a", "HTTPS", []string{"a.example.com"}, simple("a")),
		server(9000, "tcp", "TCP", []string{"*"}, nil),
		server(53, "dns", "UDP", []string{"*"}, nil),
	}}}
	b := &model.Config{Kind: model.KindGateway, Namespace: "ns", Name: "b", Spec: &networkingv1alpha3.Gateway{Servers: []*networkingv1alpha3.Server{
		server(80, "http2", "HTTP2", []string{"b.example.com"}, nil),              // joins http.80
		server(443, "https-b", "HTTPS", []string{"b.example.com"}, simple("b")),   // SNI next to a
		server(443, "https-dup", "HTTPS", []string{"a.example.com"}, simple("x")), // duplicate host: out
		server(443, "plain", "HTTP", []string{"c.example.com"}, nil),              // plaintext on a TLS port: out
		server(9000, "tcp2", "TCP", []string{"*"}, nil),                           // second TCP server: out
		server(80, "tls-on-http", "TLS", []string{"d.example.com"}, simple("d")),  // TLS on a plaintext port: out
		server(8443, "https-b", "HTTPS", []string{"b.example.com"}, simple("b")),  // another port, its own table
	}}}
	m := mergeGateways([]*model.Config{a, b}, nil)

	var ports []uint32
	for _, k := range m.ports {
		ports = append(ports, k.port)
	}
	if want := []uint32{80, 443, 9000, 8443}; !slices.Equal(ports, want) {
		t.Errorf("ports %v, want %v", ports, want)
	}
	count := func(port uint32) int { return len(m.servers[portKey{port: port}]) }
	for port, want := range map[uint32]int{80: 2, 443: 2, 9000: 1, 8443: 1} {
		if got := count(port); got != want {
			t.Errorf("port %d has %d servers, want %d", port, got, want)
		}
	}
	if got, want := m.sortedRouteNames(), []string{"http.80", "https.443.https-a.a.ns", "https.443.https-b.b.ns", "https.8443.https-b.b.ns"}; !slices.Equal(got, want) {
		t.Errorf("route tables %v, want %v", got, want)
	}
	if len(m.byRoute["http.80"]) != 2 {
		t.Errorf("http.80 serves %d servers, want 2", len(m.byRoute["http.80"]))
	}
}
