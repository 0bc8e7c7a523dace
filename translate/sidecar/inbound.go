package sidecar

import (
	"fmt"
	"slices"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	httpinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/http_inspector/v3"
	originaldstv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/original_dst/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/wrapperspb"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"

	"github.com/pilotlight/pilotlight/translate/eds"
	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/networking"
	"github.com/pilotlight/pilotlight/translate/resource"
	"github.com/pilotlight/pilotlight/translate/security"
	"github.com/pilotlight/pilotlight/translate/security/mtls"
)

// Transport protocols a filter chain matches on. The TLS inspector sets
// "tls" for a connection that starts with a TLS handshake; a connection
// it does not inspect, or that is not TLS, is "raw_buffer".
const (
	transportTLS = "tls"
	transportRaw = "raw_buffer"
)

// istioMTLSALPNs are the protocols an Istio client offers over Istio
// mTLS. A PERMISSIVE port tells mesh traffic (which it terminates) from
// the application's own TLS (which it passes on) by them.
var istioMTLSALPNs = []string{"istio", "istio-peer-exchange", "istio-http/1.0", "istio-http/1.1", "istio-h2"}

// chainMatch is one filter chain a port gets for its peer authentication
// mode: which connections it takes, and whether it terminates Istio mTLS.
type chainMatch struct {
	transport string
	alpn      []string
	mtls      bool
}

// chainMatches lays out a port's filter chains for a mode, as istiod
// does. STRICT takes TLS only and terminates it; DISABLE takes plaintext
// only (its port is not inspected, so every connection is raw_buffer);
// PERMISSIVE terminates Istio mTLS and takes plaintext too, and on a TCP
// port also passes the application's own TLS through. An HTTP port gets
// no chain for TLS that is not Istio's: it was declared plaintext HTTP.
func chainMatches(mode mtls.Mode, http bool) []chainMatch {
	switch mode {
	case mtls.Strict:
		return []chainMatch{{transport: transportTLS, mtls: true}}
	case mtls.Disable:
		return []chainMatch{{transport: transportRaw}}
	}
	if http {
		return []chainMatch{{transport: transportTLS, alpn: istioMTLSALPNs, mtls: true}, {transport: transportRaw}}
	}
	return []chainMatch{{transport: transportTLS, alpn: istioMTLSALPNs, mtls: true}, {transport: transportTLS}, {transport: transportRaw}}
}

// inboundListener is virtualInbound (15006): filter chains per port the
// workload serves (inboundPorts), matched on the original destination port and, by the
// port's peer authentication mode, on whether the connection is TLS,
// terminating Istio mTLS where the mode asks for it, then HTTP or TCP to
// inbound|PORT||. Ports a port-level PeerAuthentication names but no
// service serves, and then every other port, pass through to the
// application with the mode that applies to them. Traffic addressed to
// 15006 itself would loop and is dropped.
func inboundListener(snap *model.Snapshot, v model.InboundView) resource.Resource {
	peer := mtls.New(snap).ForWorkload(v.Namespace, v.Labels)
	blackhole := tcpChain(resource.BlackHoleCluster, resource.BlackHoleCluster)
	blackhole.Name = "virtualInbound-blackhole"
	blackhole.FilterChainMatch = &listenerv3.FilterChainMatch{DestinationPort: wrapperspb.UInt32(resource.VirtualInboundPort)}
	chains := []*listenerv3.FilterChain{blackhole}
	// inspect says, per destination port (0: any other), whether some
	// chain matches on TLS, which needs the TLS inspector.
	inspect := map[uint32]bool{}
	add := func(port uint32, mode mtls.Mode, http bool, build func() *listenerv3.FilterChain) {
		for _, m := range chainMatches(mode, http) {
			chain := build()
			chain.FilterChainMatch = &listenerv3.FilterChainMatch{TransportProtocol: m.transport, ApplicationProtocols: m.alpn}
			if port != 0 {
				chain.FilterChainMatch.DestinationPort = wrapperspb.UInt32(port)
			}
			if m.mtls {
				chain.TransportSocket = networking.InboundMTLSTransportSocket(snap.Mesh(), http, v.WorkloadSDS)
			}
			inspect[port] = inspect[port] || m.transport == transportTLS
			chains = append(chains, chain)
		}
	}

	// Authorization (and authentication) filters are the workload's, the
	// same on every port.
	httpSecurity, tcpSecurity := security.InboundHTTPFilters(snap, v), security.InboundNetworkFilters(snap, v)
	seen := map[uint32]bool{resource.VirtualInboundPort: true}
	for _, ip := range inboundPorts(snap, v) {
		if seen[ip.port] {
			continue
		}
		seen[ip.port] = true
		cluster := resource.InboundClusterName(ip.port)
		http := ip.protocol.IsHTTP()
		add(ip.port, peer.ForPort(ip.port), http, func() *listenerv3.FilterChain {
			var chain *listenerv3.FilterChain
			if http {
				chain = httpInboundChain(snap.Mesh(), ip, cluster, httpSecurity)
			} else {
				chain = tcpChain(cluster, cluster)
				chain.Filters = slices.Concat(tcpSecurity, chain.Filters)
			}
			chain.Name = fmt.Sprintf("%s_%d", wildcardIP, ip.port)
			return chain
		})
	}
	// Ports no service declares are authorized too (by the TCP subset of
	// the rules: an ALLOW rule on HTTP attributes allows nothing there),
	// else an undeclared port would bypass every policy.
	passthrough := func() *listenerv3.FilterChain {
		chain := tcpChain(resource.InboundPassthroughCluster, resource.InboundPassthroughCluster)
		chain.Filters = slices.Concat(tcpSecurity, chain.Filters)
		chain.Name = resource.VirtualInboundListener
		return chain
	}
	for _, port := range peer.PortLevel() {
		if !seen[port] {
			add(port, peer.ForPort(port), false, passthrough)
		}
	}
	add(0, peer.Mode, false, passthrough)

	filters := []*listenerv3.ListenerFilter{
		{Name: wellknown.OriginalDestination, ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: resource.Any(&originaldstv3.OriginalDst{})}},
	}
	if tls := tlsInspector(inspect); tls != nil {
		// Before the HTTP inspector, which leaves TLS connections alone.
		filters = append(filters, tls)
	}
	filters = append(filters, &listenerv3.ListenerFilter{
		Name: wellknown.HttpInspector, ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: resource.Any(&httpinspectorv3.HttpInspector{})},
	})
	return resource.Resource{Name: resource.VirtualInboundListener, Message: &listenerv3.Listener{
		Name:             resource.VirtualInboundListener,
		Address:          eds.SocketAddress(wildcardIP, resource.VirtualInboundPort),
		TrafficDirection: corev3.TrafficDirection_INBOUND,
		ListenerFilters:  filters,
		FilterChains:     chains,
	}}
}

// tlsInspector runs the TLS inspector on the destination ports whose
// chains match on TLS, and only there: on a DISABLE port every
// connection must stay raw_buffer, and inspection costs a read. Port 0
// stands for every port without chains of its own. nil when no port
// needs it.
func tlsInspector(inspect map[uint32]bool) *listenerv3.ListenerFilter {
	var on, off []uint32
	for port, needs := range inspect {
		switch {
		case port == 0:
		case needs:
			on = append(on, port)
		default:
			off = append(off, port)
		}
	}
	if !inspect[0] && len(on) == 0 {
		return nil
	}
	f := &listenerv3.ListenerFilter{
		Name:       wellknown.TLSInspector,
		ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: resource.Any(&tlsinspectorv3.TlsInspector{})},
	}
	switch {
	case inspect[0] && len(off) > 0:
		// On everywhere but the ports that take plaintext only.
		f.FilterDisabled = portsPredicate(off)
	case !inspect[0]:
		// Off everywhere but the ports that match on TLS.
		f.FilterDisabled = &listenerv3.ListenerFilterChainMatchPredicate{Rule: &listenerv3.ListenerFilterChainMatchPredicate_NotMatch{
			NotMatch: portsPredicate(on),
		}}
	}
	return f
}

// portsPredicate matches connections to any of ports.
func portsPredicate(ports []uint32) *listenerv3.ListenerFilterChainMatchPredicate {
	slices.Sort(ports)
	rules := make([]*listenerv3.ListenerFilterChainMatchPredicate, 0, len(ports))
	for _, p := range ports {
		rules = append(rules, &listenerv3.ListenerFilterChainMatchPredicate{Rule: &listenerv3.ListenerFilterChainMatchPredicate_DestinationPortRange{
			// The range is [start, end).
			DestinationPortRange: &typev3.Int32Range{Start: int32(p), End: int32(p) + 1},
		}})
	}
	if len(rules) == 1 {
		return rules[0]
	}
	return &listenerv3.ListenerFilterChainMatchPredicate{Rule: &listenerv3.ListenerFilterChainMatchPredicate_OrMatch{
		OrMatch: &listenerv3.ListenerFilterChainMatchPredicate_MatchSet{Rules: rules},
	}}
}

// httpInboundChain terminates HTTP for one served port; security filters
// run before the router.
func httpInboundChain(mesh *meshv1alpha1.MeshConfig, ip inboundPort, cluster string, policy []*hcmv3.HttpFilter) *listenerv3.FilterChain {
	port := ip.port
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix: fmt.Sprintf("inbound_%s_%d", wildcardIP, port),
		RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: &routev3.RouteConfiguration{
			Name:             cluster,
			ValidateClusters: wrapperspb.Bool(false),
			VirtualHosts: []*routev3.VirtualHost{{
				Name:    resource.InboundVirtualHostName(port),
				Domains: []string{"*"},
				Routes: []*routev3.Route{{
					Name:      "default",
					Match:     prefixMatch("/"),
					Action:    &routev3.Route_Route{Route: networking.RouteTo(cluster)},
					Decorator: &routev3.Decorator{Operation: model.JoinHostPort(ip.hostname, ip.servicePort) + "/*"},
				}},
			}},
		}},
		HttpFilters: append(slices.Clone(policy), resource.RouterFilter()),
		// Inbound requests come from the network: the peer address is the
		// real client.
		UseRemoteAddress: wrapperspb.Bool(true),
	}
	// Paths are normalized before authorization sees them, as istiod's
	// inbound listeners do: /a/../admin must not slip past a rule on
	// /admin/*.
	networking.NormalizePaths(hcm, mesh)
	return &listenerv3.FilterChain{Filters: []*listenerv3.Filter{resource.HCMFilter(hcm)}}
}
