package analyze_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	securityv1beta1 "istio.io/api/security/v1beta1"
	typev1beta1 "istio.io/api/type/v1beta1"

	"github.com/pilotlight/pilotlight/translate/analyze"
	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/model/modeltest"
)

func TestFindings(t *testing.T) {
	b := modeltest.Mesh{Services: 2, Endpoints: 1}.Builder() // svc-0, svc-1 in ns-0
	dest := func(host, subset string) *networkingv1alpha3.HTTPRouteDestination {
		return &networkingv1alpha3.HTTPRouteDestination{Destination: &networkingv1alpha3.Destination{Host: host, Subset: subset}}
	}
	b.AddConfig(&model.Config{Kind: model.KindDestinationRule, Namespace: "ns-0", Name: "svc-0", Spec: &networkingv1alpha3.DestinationRule{
		Host:    "svc-0",
		Subsets: []*networkingv1alpha3.Subset{{Name: "v1", Labels: map[string]string{"version": "v1"}}},
		TrafficPolicy: &networkingv1alpha3.TrafficPolicy{
			Tls:              &networkingv1alpha3.ClientTLSSettings{Mode: networkingv1alpha3.ClientTLSSettings_SIMPLE},
			OutlierDetection: &networkingv1alpha3.OutlierDetection{},
		},
	}})
	b.AddConfig(&model.Config{Kind: model.KindVirtualService, Namespace: "ns-0", Name: "a", Spec: &networkingv1alpha3.VirtualService{
		Hosts: []string{"svc-0"},
		Http: []*networkingv1alpha3.HTTPRoute{{
			Match:    []*networkingv1alpha3.HTTPMatchRequest{{SourceLabels: map[string]string{"app": "x"}}},
			Route:    []*networkingv1alpha3.HTTPRouteDestination{dest("svc-0", "v1"), dest("svc-0", "v9"), dest("nowhere", "")},
			Redirect: nil,
		}},
	}})
	b.AddConfig(&model.Config{Kind: model.KindVirtualService, Namespace: "ns-0", Name: "b", Spec: &networkingv1alpha3.VirtualService{
		Hosts: []string{"svc-0.ns-0.svc.cluster.local"},
		Http:  []*networkingv1alpha3.HTTPRoute{{Route: []*networkingv1alpha3.HTTPRouteDestination{dest("svc-0", "")}, CorsPolicy: &networkingv1alpha3.CorsPolicy{}}},
	}})
	got := map[string]string{}
	for _, p := range analyze.Run(b.Build()) {
		if !p.Warning || p.Source != analyze.Source {
			t.Errorf("finding %s is not an analysis warning", p)
		}
		got[p.Kind+" "+p.Name+" "+p.Field+" "+p.Code] = p.Message
	}
	want := []string{
		"VirtualService a spec.http[0].route[1].destination.subset " + analyze.CodeReferenceNotFound,
		"VirtualService a spec.http[0].route[2].destination.host " + analyze.CodeReferenceNotFound,
		"VirtualService b spec.hosts[0] " + analyze.CodeConflict,
		"VirtualService b spec.http[0].corsPolicy " + analyze.CodeNotForGRPC,
		"DestinationRule svc-0 spec.trafficPolicy.tls " + analyze.CodeNotForGRPC,
		"DestinationRule svc-0 spec.trafficPolicy.tls.caCertificates " + analyze.CodeNeedsAgent,
		"DestinationRule svc-0 spec.trafficPolicy.outlierDetection " + analyze.CodeNotForGRPC,
	}
	for _, k := range want {
		if _, ok := got[k]; !ok {
			t.Errorf("missing finding %q; got %v", k, got)
		}
	}
	if _, ok := got["VirtualService a spec.http[0].route[0].destination.subset "+analyze.CodeReferenceNotFound]; ok {
		t.Error("an existing subset was reported")
	}
	if len(got) != len(want) {
		t.Errorf("got %d findings, want %d: %v", len(got), len(want), got)
	}
}

func TestDelegationFindings(t *testing.T) {
	b := modeltest.Mesh{Services: 1, Endpoints: 1}.Builder() // svc-0 in ns-0
	vs := func(ns, name string, spec *networkingv1alpha3.VirtualService) {
		b.AddConfig(&model.Config{Kind: model.KindVirtualService, Namespace: ns, Name: name, Spec: spec})
	}
	prefix := func(p string) []*networkingv1alpha3.HTTPMatchRequest {
		return []*networkingv1alpha3.HTTPMatchRequest{{Uri: &networkingv1alpha3.StringMatch{MatchType: &networkingv1alpha3.StringMatch_Prefix{Prefix: p}}}}
	}
	route := []*networkingv1alpha3.HTTPRouteDestination{{Destination: &networkingv1alpha3.Destination{Host: "svc-0"}}}
	vs("ns-0", "root", &networkingv1alpha3.VirtualService{Hosts: []string{"svc-0"}, Http: []*networkingv1alpha3.HTTPRoute{
		{Delegate: &networkingv1alpha3.Delegate{Name: "missing"}},
		{Delegate: &networkingv1alpha3.Delegate{Name: "private", Namespace: "ns-1"}},
		{Match: prefix("/a"), Delegate: &networkingv1alpha3.Delegate{Name: "d"}},
	}})
	vs("ns-1", "private", &networkingv1alpha3.VirtualService{ExportTo: []string{"."}, Http: []*networkingv1alpha3.HTTPRoute{{Route: []*networkingv1alpha3.HTTPRouteDestination{
		{Destination: &networkingv1alpha3.Destination{Host: "svc-0.ns-0.svc.cluster.local"}},
	}}}})
	vs("ns-0", "d", &networkingv1alpha3.VirtualService{Http: []*networkingv1alpha3.HTTPRoute{
		{Match: prefix("/a/b"), Route: route},
		{Match: prefix("/c"), Route: route},
		{Delegate: &networkingv1alpha3.Delegate{Name: "missing"}},
	}})
	got := map[string]string{}
	for _, p := range analyze.Run(b.Build()) {
		got[p.Name+" "+p.Field] += p.Code + " " + p.Message + ";"
	}
	want := map[string][]string{
		"root spec.http[0].delegate": {analyze.CodeReferenceNotFound, "ns-0/missing does not exist"},
		"root spec.http[1].delegate": {analyze.CodeReferenceNotFound, "not exported to namespace ns-0"},
		"root spec.http[2].delegate": {analyze.CodeConflict, "rule http[1] of delegate ns-0/d matches requests this rule does not",
			analyze.CodeNotTranslated, "rule http[2] of delegate ns-0/d delegates again"},
	}
	for k, parts := range want {
		for _, part := range parts {
			if !strings.Contains(got[k], part) {
				t.Errorf("finding %q = %q, want it to say %q", k, got[k], part)
			}
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d findings, want %d: %v", len(got), len(want), got)
	}
}

func TestEgressProxyFindings(t *testing.T) {
	b := modeltest.Mesh{Services: 1, Endpoints: 1}.Builder() // svc-0 in ns-0
	sidecar := func(name string, mode networkingv1alpha3.OutboundTrafficPolicy_Mode, host string, port uint32) {
		b.AddConfig(&model.Config{Kind: model.KindSidecar, Namespace: "ns-0", Name: name, Spec: &networkingv1alpha3.Sidecar{
			WorkloadSelector: &networkingv1alpha3.WorkloadSelector{Labels: map[string]string{"app": name}},
			OutboundTrafficPolicy: &networkingv1alpha3.OutboundTrafficPolicy{Mode: mode, EgressProxy: &networkingv1alpha3.Destination{
				Host: host, Port: &networkingv1alpha3.PortSelector{Number: port},
			}},
		}})
	}
	sidecar("fine", networkingv1alpha3.OutboundTrafficPolicy_ALLOW_ANY, "svc-0", 8080)
	sidecar("registry-only", networkingv1alpha3.OutboundTrafficPolicy_REGISTRY_ONLY, "svc-0", 8080)
	sidecar("no-port", networkingv1alpha3.OutboundTrafficPolicy_ALLOW_ANY, "svc-0", 0)
	sidecar("unknown", networkingv1alpha3.OutboundTrafficPolicy_ALLOW_ANY, "egress.istio-system.svc.cluster.local", 80)
	got := map[string]string{}
	for _, p := range analyze.Run(b.Build()) {
		got[p.Name+" "+p.Field] = p.Code
	}
	want := map[string]string{
		"registry-only spec.outboundTrafficPolicy.egressProxy": analyze.CodeConflict,
		"no-port spec.outboundTrafficPolicy.egressProxy.port":  analyze.CodeReferenceNotFound,
		"unknown spec.outboundTrafficPolicy.egressProxy.host":  analyze.CodeReferenceNotFound,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
}

func TestAuthorizationPolicyFindings(t *testing.T) {
	b := model.NewBuilder()
	add := func(name string, spec *securityv1beta1.AuthorizationPolicy) {
		b.AddConfig(&model.Config{Kind: model.KindAuthorizationPolicy, Namespace: "ns-0", Name: name, Spec: spec})
	}
	add("gateway", &securityv1beta1.AuthorizationPolicy{TargetRefs: []*typev1beta1.PolicyTargetReference{{Kind: "Gateway", Name: "gw"}}})
	add("http-only", &securityv1beta1.AuthorizationPolicy{Rules: []*securityv1beta1.Rule{{
		To: []*securityv1beta1.Rule_To{{Operation: &securityv1beta1.Operation{Methods: []string{"GET"}}}},
	}}})
	add("jwt", &securityv1beta1.AuthorizationPolicy{Rules: []*securityv1beta1.Rule{{
		When: []*securityv1beta1.Condition{{Key: "request.auth.claims[group]", Values: []string{"x"}}, {Key: "bogus", Values: []string{"y"}}},
	}}})
	add("ext", &securityv1beta1.AuthorizationPolicy{Action: securityv1beta1.AuthorizationPolicy_CUSTOM,
		ActionDetail: &securityv1beta1.AuthorizationPolicy_Provider{Provider: &securityv1beta1.AuthorizationPolicy_ExtensionProvider{Name: "nowhere"}}})
	b.AddConfig(&model.Config{Kind: model.KindRequestAuthentication, Namespace: "ns-0", Name: "ra", Spec: &securityv1beta1.RequestAuthentication{
		JwtRules: []*securityv1beta1.JWTRule{{Issuer: "i", Timeout: durationpb.New(time.Second), Jwks: "not json"}},
	}})
	var got []string
	for _, p := range analyze.Run(b.Build()) {
		got = append(got, p.Name+" "+p.Field+" "+p.Code)
	}
	want := []string{
		"ext spec.action " + analyze.CodeNotForGRPC,
		"ext spec.provider.name " + analyze.CodeNotTranslated,
		"gateway spec.targetRefs " + analyze.CodeNotTranslated,
		"http-only spec.rules[0].to[0].operation.methods " + analyze.CodeNotTranslated, // on TCP ports
		"jwt spec.rules[0].when[0] " + analyze.CodeNotTranslated,                       // on TCP ports
		"jwt spec.rules[0].when[0] " + analyze.CodeNotForGRPC,
		"jwt spec.rules[0].when[1] " + analyze.CodeNotTranslated, // an unknown attribute
		"ra spec.jwtRules " + analyze.CodeNotForGRPC,
		"ra spec.jwtRules[0].jwks " + analyze.CodeNotTranslated,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
}

func TestPeerAuthenticationFindings(t *testing.T) {
	b := modeltest.Mesh{Services: 1, Endpoints: 1}.Builder() // svc-0 in ns-0, labels app=svc-0, version=v1
	pa := func(ns, name string, selector map[string]string, ports ...uint32) {
		spec := &securityv1beta1.PeerAuthentication{}
		if selector != nil {
			spec.Selector = &typev1beta1.WorkloadSelector{MatchLabels: selector}
		}
		for _, p := range ports {
			if spec.PortLevelMtls == nil {
				spec.PortLevelMtls = map[uint32]*securityv1beta1.PeerAuthentication_MutualTLS{}
			}
			spec.PortLevelMtls[p] = &securityv1beta1.PeerAuthentication_MutualTLS{Mode: securityv1beta1.PeerAuthentication_MutualTLS_DISABLE}
		}
		b.AddConfig(&model.Config{Kind: model.KindPeerAuthentication, Namespace: ns, Name: name, Spec: spec})
	}
	pa("istio-system", "default", nil)
	pa("istio-system", "second", nil)
	pa("istio-system", "selecting", map[string]string{"app": "svc-0"})
	pa("ns-0", "a", nil)
	pa("ns-0", "b", nil, 8080)
	pa("ns-0", "by-app", map[string]string{"app": "svc-0"})
	pa("ns-0", "by-version", map[string]string{"version": "v1"})
	pa("ns-0", "other", map[string]string{"app": "nobody"})

	got := map[string]string{}
	for _, p := range analyze.Run(b.Build()) {
		got[p.Kind+" "+p.Namespace+"/"+p.Name+" "+p.Field] = p.Code + " " + p.Message
	}
	want := map[string]string{
		"PeerAuthentication istio-system/second spec.selector":    analyze.CodeConflict + " the mesh (root namespace istio-system) already has PeerAuthentication default",
		"PeerAuthentication istio-system/selecting spec.selector": analyze.CodeNotTranslated + " a selector in the root namespace is ignored",
		"PeerAuthentication ns-0/b spec.selector":                 analyze.CodeConflict + " namespace ns-0 already has PeerAuthentication a",
		"PeerAuthentication ns-0/b spec.portLevelMtls":            analyze.CodeNotTranslated + " port-level mTLS needs a selector",
		"PeerAuthentication ns-0/by-version spec.selector":        analyze.CodeConflict + " selects workload ns-0/" + modeltest.PodIP(0) + ", which PeerAuthentication by-app also selects",
	}
	for k, prefix := range want {
		if !strings.HasPrefix(got[k], prefix) {
			t.Errorf("finding %q = %q, want it to start with %q", k, got[k], prefix)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d findings, want %d: %v", len(got), len(want), got)
	}
}

func TestTLSRouteFindings(t *testing.T) {
	b := modeltest.Mesh{Services: 1, Endpoints: 1}.Builder() // svc-0 in ns-0
	b.AddConfig(&model.Config{Kind: model.KindVirtualService, Namespace: "ns-0", Name: "tls", Spec: &networkingv1alpha3.VirtualService{
		Hosts: []string{"svc-0"},
		Tls: []*networkingv1alpha3.TLSRoute{{
			Match: []*networkingv1alpha3.TLSMatchAttributes{{SniHosts: []string{"svc-0.example.com"}, DestinationSubnets: []string{"10.0.0.0/8"}}},
			Route: []*networkingv1alpha3.RouteDestination{{Destination: &networkingv1alpha3.Destination{Host: "nowhere"}}},
		}},
	}})
	got := map[string]string{}
	for _, p := range analyze.Run(b.Build()) {
		got[p.Name+" "+p.Field] = p.Code
	}
	want := map[string]string{
		"tls spec.tls": analyze.CodeNotForGRPC,
		"tls spec.tls[0].route[0].destination.host": analyze.CodeReferenceNotFound,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
}

// Proxyless clients carry out ISTIO_MUTUAL; other TLS modes they cannot.
func TestIstioMutualIsTranslatedForGRPC(t *testing.T) {
	b := modeltest.Mesh{Services: 2, Endpoints: 1}.Builder()
	for i, mode := range []networkingv1alpha3.ClientTLSSettings_TLSmode{networkingv1alpha3.ClientTLSSettings_ISTIO_MUTUAL, networkingv1alpha3.ClientTLSSettings_MUTUAL} {
		name := fmt.Sprintf("svc-%d", i)
		b.AddConfig(&model.Config{Kind: model.KindDestinationRule, Namespace: "ns-0", Name: name, Spec: &networkingv1alpha3.DestinationRule{
			Host: name, TrafficPolicy: &networkingv1alpha3.TrafficPolicy{Tls: &networkingv1alpha3.ClientTLSSettings{Mode: mode}},
		}})
	}
	var got []string
	for _, p := range analyze.Run(b.Build()) {
		got = append(got, p.Name+" "+p.Field+" "+p.Code)
	}
	want := []string{"svc-1 spec.trafficPolicy.tls " + analyze.CodeNotForGRPC, "svc-1 spec.trafficPolicy.tls.caCertificates " + analyze.CodeNeedsAgent}
	if !slices.Equal(got, want) {
		t.Errorf("findings = %q, want %q", got, want)
	}
}

// TLS that verifies servers by the system trust store needs istio-agent;
// TLS that names a CA file, or verifies nothing, does not.
func TestNeedsAgentFindings(t *testing.T) {
	b := modeltest.Mesh{Services: 4, Endpoints: 1}.Builder()
	for i, tls := range []*networkingv1alpha3.ClientTLSSettings{
		{Mode: networkingv1alpha3.ClientTLSSettings_SIMPLE, InsecureSkipVerify: wrapperspb.Bool(true)},
		{Mode: networkingv1alpha3.ClientTLSSettings_SIMPLE},
		{Mode: networkingv1alpha3.ClientTLSSettings_MUTUAL, ClientCertificate: "/etc/c.pem", PrivateKey: "/etc/k.pem", CaCertificates: "/etc/ca.pem"},
		{Mode: networkingv1alpha3.ClientTLSSettings_MUTUAL, ClientCertificate: "/etc/c.pem", PrivateKey: "/etc/k.pem"},
	} {
		name := fmt.Sprintf("svc-%d", i)
		b.AddConfig(&model.Config{Kind: model.KindDestinationRule, Namespace: "ns-0", Name: name, Spec: &networkingv1alpha3.DestinationRule{
			Host: name, TrafficPolicy: &networkingv1alpha3.TrafficPolicy{Tls: tls},
		}})
	}
	var got []string
	for _, p := range analyze.Run(b.Build()) {
		if p.Code == analyze.CodeNeedsAgent {
			got = append(got, p.Name+" "+p.Field)
		}
	}
	if want := []string{"svc-1 spec.trafficPolicy.tls.caCertificates", "svc-3 spec.trafficPolicy.tls.caCertificates"}; !slices.Equal(got, want) {
		t.Errorf("findings = %q, want %q", got, want)
	}
}

func TestSidecarIngressFindings(t *testing.T) {
	b := modeltest.Mesh{Services: 1, Endpoints: 1}.Builder()
	port := func(n uint32) *networkingv1alpha3.SidecarPort {
		return &networkingv1alpha3.SidecarPort{Number: n, Protocol: "HTTP", Name: "http"}
	}
	b.AddConfig(&model.Config{Kind: model.KindSidecar, Namespace: "ns-0", Name: "in", Spec: &networkingv1alpha3.Sidecar{
		WorkloadSelector: &networkingv1alpha3.WorkloadSelector{Labels: map[string]string{"app": "svc-0"}},
		Ingress: []*networkingv1alpha3.IstioIngressListener{
			{Port: port(8080), DefaultEndpoint: "127.0.0.1:8081"},
			{Port: port(8080), DefaultEndpoint: "127.0.0.1:8082"},
			{Port: port(9000), DefaultEndpoint: "10.0.0.1:9000"},
			{Port: port(9001), CaptureMode: networkingv1alpha3.CaptureMode_NONE},
			{Port: port(9002), Tls: &networkingv1alpha3.ServerTLSSettings{Mode: networkingv1alpha3.ServerTLSSettings_SIMPLE}},
			{Port: port(9003), ConnectionPool: &networkingv1alpha3.ConnectionPoolSettings{}},
		},
	}})
	got := map[string]string{}
	for _, p := range analyze.Run(b.Build()) {
		got[p.Field] = p.Code + " " + p.Message
	}
	want := map[string]string{
		"spec.ingress[1].port":            analyze.CodeConflict + " port 8080 is also spec.ingress[0]'s",
		"spec.ingress[2].defaultEndpoint": analyze.CodeNotTranslated + ` defaultEndpoint "10.0.0.1:9000": host must be`,
		"spec.ingress[3].captureMode":     analyze.CodeNotTranslated + " listeners bound to the port",
		"spec.ingress[4].tls":             analyze.CodeNotTranslated + " TLS on ingress listeners",
		"spec.ingress[5].connectionPool":  analyze.CodeNotTranslated + " not applied yet",
	}
	for k, prefix := range want {
		if !strings.HasPrefix(got[k], prefix) {
			t.Errorf("finding %q = %q, want it to start with %q", k, got[k], prefix)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d findings, want %d: %v", len(got), len(want), got)
	}
}
