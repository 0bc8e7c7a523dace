package gateway

import (
	"slices"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/pilotlight/pilotlight/translate/eds"
	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/networking"
	"github.com/pilotlight/pilotlight/translate/resource"
	"github.com/pilotlight/pilotlight/translate/security"
)

// chain is one filter chain being built.
type chain struct {
	// sni and alpn are what the chain matches in the TLS client hello.
	sni, alpn []string
	tls       *tlsv3.DownstreamTlsContext
	filters   []*listenerv3.Filter
}

// listeners builds one listener per port of the merged servers. A
// listener whose servers yield no filter chain (a TCP server without a
// matching tcp route, a passthrough server without tls routes) is left
// out, as istiod leaves it out.
func listeners(snap *model.Snapshot, v model.OutboundView, m *merged) []resource.Resource {
	var out []resource.Resource
	// The gateway's authorization and authentication filters: before the
	// connection manager's own, or before the TCP proxy.
	httpSecurity, tcpSecurity := security.GatewayHTTPFilters(snap, v), security.GatewayNetworkFilters(snap, v)
	for _, key := range m.ports {
		servers := m.servers[key]
		var chains []chain
		if first := servers[0]; first.protocol.IsHTTP() {
			// Plaintext HTTP servers share one connection manager and
			// route table.
			chains = []chain{{filters: []*listenerv3.Filter{httpFilter(snap.Mesh(), "outbound_"+key.listenerName(), first.routeName, httpSecurity)}}}
		} else {
			sniSeen := map[string]bool{}
			for _, s := range servers {
				chains = append(chains, serverChains(snap, v, key, s, sniSeen, httpSecurity)...)
			}
			for i := range chains {
				if chains[i].filters[0].GetName() != wellknown.HTTPConnectionManager {
					chains[i].filters = slices.Concat(tcpSecurity, chains[i].filters)
				}
			}
		}
		if l := buildListener(key, chains); l != nil {
			out = append(out, resource.Resource{Name: l.Name, Message: l})
		}
	}
	return out
}

// serverChains builds the filter chains of one server on a port that is
// not plaintext HTTP.
func serverChains(snap *model.Snapshot, v model.OutboundView, key portKey, s *server, sniSeen map[string]bool, httpSecurity []*hcmv3.HttpFilter) []chain {
	switch {
	case s.protocol == model.HTTPS && s.tls() != nil && !s.passthrough():
		// HTTPS terminated here: a connection manager of its own, with
		// its own route table, behind the server's certificate.
		statPrefix := s.spec.GetName()
		if statPrefix == "" {
			statPrefix = "outbound_" + key.listenerName()
		}
		return []chain{{
			sni:     s.sniHosts(),
			tls:     downstreamTLS(snap.Mesh(), s, false, v.WorkloadSDS),
			filters: []*listenerv3.Filter{httpFilter(snap.Mesh(), statPrefix, s.routeName, httpSecurity)},
		}}
	case s.tls() == nil:
		// Opaque TCP, routed by the VirtualServices' tcp rules.
		if f := tcpRoutesFilters(snap, v, s); f != nil {
			return []chain{{filters: f}}
		}
	case !s.passthrough():
		// TLS terminated here, then TCP routed by tcp rules.
		if f := tcpRoutesFilters(snap, v, s); f != nil {
			return []chain{{sni: s.sniHosts(), tls: downstreamTLS(snap.Mesh(), s, true, v.WorkloadSDS), filters: f}}
		}
	case s.tls().GetMode() == networkingv1alpha3.ServerTLSSettings_AUTO_PASSTHROUGH:
		return autoPassthroughChains(snap, v, s)
	default:
		return tlsRouteChains(snap, v, s, sniSeen)
	}
	return nil
}

// tlsRouteChains: for a PASSTHROUGH server, one chain per tls match of the
// VirtualServices bound to it, matched on the match's SNI hosts and
// forwarding the still encrypted stream. Envoy rejects two chains with
// the same match, so an SNI host already routed on the port is skipped
// (Analyze: gateway-duplicate-sni).
func tlsRouteChains(snap *model.Snapshot, v model.OutboundView, s *server, sniSeen map[string]bool) []chain {
	var out []chain
	for _, c := range snap.VirtualServicesForGateway(s.gateway, v.Namespace) {
		if !servesAny(snap, s, c) {
			continue
		}
		for _, rule := range model.AsVirtualService(c).GetTls() {
			if len(rule.GetRoute()) == 0 {
				continue
			}
			for _, m := range rule.GetMatch() {
				if !l4Match(m.GetPort(), m.GetGateways(), s, c.Namespace) || anyIn(m.GetSniHosts(), sniSeen) {
					continue
				}
				f := tcpProxy(snap, c, rule.GetRoute(), s.port())
				if f == nil {
					continue
				}
				for _, h := range m.GetSniHosts() {
					sniSeen[h] = true
				}
				out = append(out, chain{sni: m.GetSniHosts(), filters: []*listenerv3.Filter{f}})
			}
		}
	}
	return out
}

// buildListener assembles a listener; nil when it has no chains. A chain
// whose match repeats an earlier one's is dropped: Envoy would reject
// the whole listener.
func buildListener(key portKey, chains []chain) *listenerv3.Listener {
	l := &listenerv3.Listener{
		Name:             key.listenerName(),
		Address:          eds.SocketAddress(key.address(), key.port),
		TrafficDirection: corev3.TrafficDirection_OUTBOUND,
	}
	inspect := false
	var seen [][]byte
	for _, c := range chains {
		fc := &listenerv3.FilterChain{Filters: c.filters}
		if match := chainMatch(c); match != nil {
			fc.FilterChainMatch = match
		}
		key, _ := proto.MarshalOptions{Deterministic: true}.Marshal(fc.GetFilterChainMatch())
		if slices.ContainsFunc(seen, func(k []byte) bool { return string(k) == string(key) }) {
			continue
		}
		seen = append(seen, key)
		if c.tls != nil {
			fc.TransportSocket = transportSocket(c.tls)
			// A client that never finishes its handshake is let go after
			// 15 s, as istiod's gateways do.
			fc.TransportSocketConnectTimeout = durationpb.New(15 * time.Second)
		}
		inspect = inspect || len(c.sni) > 0 || len(c.alpn) > 0 || len(c.tls.GetCommonTlsContext().GetAlpnProtocols()) > 0
		l.FilterChains = append(l.FilterChains, fc)
	}
	if len(l.FilterChains) == 0 {
		return nil
	}
	if inspect {
		// SNI and ALPN are read from the client hello.
		l.ListenerFilters = []*listenerv3.ListenerFilter{{
			Name:       wellknown.TlsInspector,
			ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: resource.Any(&tlsinspectorv3.TlsInspector{})},
		}}
	}
	return l
}

// chainMatch matches SNI and ALPN; a "*" host means any name, so no
// server_names at all.
func chainMatch(c chain) *listenerv3.FilterChainMatch {
	sni := c.sni
	if slices.Contains(sni, "*") {
		sni = nil
	}
	if len(sni) == 0 && len(c.alpn) == 0 {
		return nil
	}
	return &listenerv3.FilterChainMatch{ServerNames: slices.Clone(sni), ApplicationProtocols: c.alpn}
}

// httpFilter is a gateway's connection manager: requests come from
// outside the mesh, so the peer address is the client's, client
// certificate details are set for the backends (and any forged ones
// dropped), websockets may upgrade, and routes come over RDS. Security
// filters (authorization, authentication) run first.
func httpFilter(mesh *meshv1alpha1.MeshConfig, statPrefix, routeName string, policy []*hcmv3.HttpFilter) *listenerv3.Filter {
	rds := resource.ADS()
	// Envoy must not serve a listener before its routes: without them
	// every request would fail.
	rds.InitialFetchTimeout = durationpb.New(0)
	hcm := &hcmv3.HttpConnectionManager{
		CodecType:  hcmv3.HttpConnectionManager_AUTO,
		StatPrefix: statPrefix,
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			ConfigSource:    rds,
			RouteConfigName: routeName,
		}},
		HttpFilters:              slices.Concat(policy, resource.HTTPFilters()),
		UseRemoteAddress:         wrapperspb.Bool(true),
		ForwardClientCertDetails: hcmv3.HttpConnectionManager_SANITIZE_SET,
		SetCurrentClientCertDetails: &hcmv3.HttpConnectionManager_SetCurrentClientCertDetails{
			Subject: wrapperspb.Bool(true), Cert: true, Dns: true, Uri: true,
		},
		HttpProtocolOptions: &corev3.Http1ProtocolOptions{},
		UpgradeConfigs:      []*hcmv3.HttpConnectionManager_UpgradeConfig{{UpgradeType: "websocket"}},
		// Long-lived streams (gRPC, websockets) are ended by the
		// application, not by an idle timer.
		StreamIdleTimeout:            durationpb.New(0),
		PathWithEscapedSlashesAction: hcmv3.HttpConnectionManager_KEEP_UNCHANGED,
		Proxy_100Continue:            true,
		// The Server header a gateway answers with, as istiod's gateways do.
		ServerName: "istio-envoy",
	}
	networking.NormalizePaths(hcm, mesh)
	return resource.HCMFilter(hcm)
}
