package parity

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	uuidv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/request_id/uuid/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/pilotlight/pilotlight/translate/resource"
	"github.com/pilotlight/pilotlight/xds/client"
)

// telemetry names Istio's telemetry filters (stats, peer metadata
// exchange, gRPC stats, Wasm plugins), which pilotlight leaves out by
// design (DESIGN.md: not in scope): they observe traffic and never route
// it.
var telemetry = []string{"istio.stats", "stats.PluginConfig", "metadata_exchange", "metadataexchange",
	"peer_metadata", "wasm", "grpc_stats", "GrpcStats"}

func isTelemetry(name string, cfg *anypb.Any) bool {
	for _, t := range telemetry {
		if strings.Contains(name, t) || strings.Contains(cfg.GetTypeUrl(), t) {
			return true
		}
	}
	return false
}

// reduce turns a configuration into facts.
func reduce(cfg client.Config) facts {
	f := facts{}
	routes := map[string]*routev3.RouteConfiguration{}
	for name, m := range cfg.Resources[resource.RouteType] {
		routes[name] = m.(*routev3.RouteConfiguration)
	}
	for _, m := range cfg.Resources[resource.ListenerType] {
		listenerFacts(f, m.(*listenerv3.Listener), routes)
	}
	clusterAndEndpointFacts(f, cfg)
	return f
}

// address renders an Envoy address as HOST:PORT.
func address(a *corev3.Address) string {
	if s := a.GetSocketAddress(); s != nil {
		return net.JoinHostPort(s.GetAddress(), strconv.Itoa(int(s.GetPortValue())))
	}
	return text(a)
}

// listenerFacts records a listener, keyed by its address.
func listenerFacts(f facts, l *listenerv3.Listener, routes map[string]*routev3.RouteConfiguration) {
	key := "L " + address(l.GetAddress())
	handled := []string{"address", "filter_chains", "default_filter_chain", "listener_filters"}
	if len(l.GetListenerFilters()) == 0 {
		// Timeouts of listener filters a listener does not have do
		// nothing.
		handled = append(handled, "listener_filters_timeout", "continue_on_listener_filters_timeout")
	}
	f.fields(key, l, handled...)
	var lfs []string
	for _, lf := range l.GetListenerFilters() {
		if isTelemetry(lf.GetName(), lf.GetTypedConfig()) {
			continue
		}
		s := shortType(lf.GetTypedConfig())
		if lf.GetFilterDisabled() != nil {
			s += " disabled when " + text(lf.GetFilterDisabled())
		}
		lfs = append(lfs, s)
	}
	if len(lfs) > 0 {
		f.add(key+" listener_filters", "["+strings.Join(lfs, ", ")+"]")
	}
	labels := map[string]int{}
	for _, fc := range l.GetFilterChains() {
		labels[chainLabel(fc)]++
	}
	for _, fc := range l.GetFilterChains() {
		match := chainMatch(fc.GetFilterChainMatch())
		label := chainLabel(fc)
		if labels[label] > 1 {
			chainFacts(f, key+" "+label+" "+match, fc, routes)
			continue
		}
		// The only chain of its kind is keyed by its kind, and what it
		// matches is one of its facts: two control planes that match the
		// same traffic differently still have their chains compared.
		f.add(key+" "+label+" match", match)
		chainFacts(f, key+" "+label, fc, routes)
	}
	if fc := l.GetDefaultFilterChain(); fc != nil {
		chainFacts(f, key+" default", fc, routes)
	}
}

// chainLabel names a filter chain by what ends it: "http" for an HTTP
// connection manager, "tcp" for a TCP proxy, the filter's type otherwise.
func chainLabel(fc *listenerv3.FilterChain) string {
	fs := fc.GetFilters()
	if len(fs) == 0 {
		return "empty"
	}
	switch t := shortType(fs[len(fs)-1].GetTypedConfig()); t {
	case "HttpConnectionManager":
		return "http"
	case "TcpProxy":
		return "tcp"
	default:
		return t
	}
}

// chainMatch renders what a filter chain matches, with the lists whose
// order Envoy ignores sorted.
func chainMatch(m *listenerv3.FilterChainMatch) string {
	if m == nil {
		return "{}"
	}
	m = proto.Clone(m).(*listenerv3.FilterChainMatch)
	slices.Sort(m.ServerNames)
	slices.Sort(m.ApplicationProtocols)
	return text(m)
}

// chainFacts records a filter chain: its TLS, its network filters in
// order and what each does.
func chainFacts(f facts, key string, fc *listenerv3.FilterChain, routes map[string]*routev3.RouteConfiguration) {
	handled := []string{"filter_chain_match", "filters"}
	if fc.GetTransportSocket() == nil {
		// A plaintext chain has no handshake to time out.
		handled = append(handled, "transport_socket_connect_timeout")
	}
	f.fields(key, fc, handled...)
	var names []string
	for _, flt := range fc.GetFilters() {
		cfg := flt.GetTypedConfig()
		if isTelemetry(flt.GetName(), cfg) {
			continue
		}
		names = append(names, shortType(cfg))
		msg, err := cfg.UnmarshalNew()
		if err != nil {
			f.add(key+" filter "+shortType(cfg), text(cfg))
			continue
		}
		switch m := msg.(type) {
		case *hcmv3.HttpConnectionManager:
			hcmFacts(f, key+" hcm", m, routes)
		case *tcpv3.TcpProxy:
			tcpProxyFacts(f, key+" tcp_proxy", m)
		default:
			f.add(key+" filter "+shortType(cfg), text(m))
		}
	}
	f.add(key+" filters", "["+strings.Join(names, ", ")+"]")
}

// hcmFacts records an HTTP connection manager: its settings, its HTTP
// filters in order (Istio's telemetry filters left out) and the route
// table it uses, keyed by the chain that uses it.
func hcmFacts(f facts, key string, h *hcmv3.HttpConnectionManager, routes map[string]*routev3.RouteConfiguration) {
	f.fields(key, normalizeHCM(h), "rds", "route_config", "http_filters")
	var names []string
	for _, hf := range h.GetHttpFilters() {
		cfg := hf.GetTypedConfig()
		if isTelemetry(hf.GetName(), cfg) {
			continue
		}
		name := shortType(cfg)
		// Istio's ALPN filter only labels upstream mutual TLS
		// connections; its presence is a fact of its own (an Istio
		// mutual TLS difference), not a position in the chain.
		if typeName(cfg.GetTypeUrl()) != istioALPN {
			names = append(names, name)
		}
		if s := text(cfg); s != name+"{}" {
			f.add(key+" http_filter "+name, s)
		}
		if hf.GetIsOptional() || hf.GetDisabled() {
			f.add(key+" http_filter "+name+" flags", fmt.Sprintf("optional=%v disabled=%v", hf.GetIsOptional(), hf.GetDisabled()))
		}
	}
	f.add(key+" http_filters", "["+strings.Join(names, ", ")+"]")
	routeKey := "R" + strings.TrimPrefix(strings.TrimSuffix(key, " hcm"), "L")
	routeKey = strings.TrimSuffix(routeKey, " http")
	switch {
	case h.GetRouteConfig() != nil:
		routeFacts(f, routeKey, h.GetRouteConfig())
	case h.GetRds() != nil:
		name := h.GetRds().GetRouteConfigName()
		rc, ok := routes[name]
		if !ok {
			f.add(routeKey, "missing route table "+strconv.Quote(name))
			return
		}
		routeFacts(f, routeKey, rc)
	}
}

// istioALPN is the type of Istio's ALPN override filter, which tells
// upstream mutual TLS connections (auto mTLS) the downstream protocol.
const istioALPN = "istio.envoy.config.filter.http.alpn.v2alpha1.FilterConfig"

// normalizeHCM rewrites, on a copy, connection manager settings that say
// what leaving them out means: keeping escaped slashes unchanged (Envoy's
// implementation-specific default) and the UUID request id extension
// with its default settings.
func normalizeHCM(h *hcmv3.HttpConnectionManager) *hcmv3.HttpConnectionManager {
	h = proto.Clone(h).(*hcmv3.HttpConnectionManager)
	if h.GetPathWithEscapedSlashesAction() == hcmv3.HttpConnectionManager_KEEP_UNCHANGED {
		h.PathWithEscapedSlashesAction = hcmv3.HttpConnectionManager_IMPLEMENTATION_SPECIFIC_DEFAULT
	}
	if ext := h.GetRequestIdExtension().GetTypedConfig(); ext != nil {
		var uuid uuidv3.UuidRequestIdConfig
		if ext.UnmarshalTo(&uuid) == nil &&
			(uuid.GetPackTraceReason() == nil || uuid.GetPackTraceReason().GetValue()) &&
			(uuid.GetUseRequestIdForTraceSampling() == nil || uuid.GetUseRequestIdForTraceSampling().GetValue()) {
			h.RequestIdExtension = nil
		}
	}
	return h
}

// tcpProxyFacts records a TCP proxy with its weighted clusters in name
// order (Envoy picks by weight, not position).
func tcpProxyFacts(f facts, key string, tp *tcpv3.TcpProxy) {
	tp = proto.Clone(tp).(*tcpv3.TcpProxy)
	if wc := tp.GetWeightedClusters(); wc != nil {
		slices.SortFunc(wc.Clusters, func(a, b *tcpv3.TcpProxy_WeightedCluster_ClusterWeight) int {
			return strings.Compare(a.GetName(), b.GetName())
		})
	}
	f.fields(key, tp)
}
