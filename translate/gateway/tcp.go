package gateway

import (
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/networking"
	"github.com/pilotlight/pilotlight/translate/resource"
)

// tcpRoutesFilters returns the TCP proxy of the first tcp rule, among the
// VirtualServices bound to the server's gateway and serving one of its
// hosts, that matches the server's port and gateway; nil if none does.
func tcpRoutesFilters(snap *model.Snapshot, v model.OutboundView, s *server) []*listenerv3.Filter {
	for _, c := range snap.VirtualServicesForGateway(s.gateway, v.Namespace) {
		if !servesAny(snap, s, c) {
			continue
		}
		for _, rule := range model.AsVirtualService(c).GetTcp() {
			if len(rule.GetRoute()) > 0 && l4Matches(rule.GetMatch(), s, c.Namespace) {
				if f := tcpProxy(snap, c, rule.GetRoute(), s.port()); f != nil {
					return []*listenerv3.Filter{f}
				}
			}
		}
	}
	return nil
}

// servesAny reports whether a VirtualService's hosts overlap a server's
// hosts that its namespace may bind to.
func servesAny(snap *model.Snapshot, s *server, c *model.Config) bool {
	serverHosts := hostsForNamespace(s.hosts, c.Namespace)
	for _, h := range model.AsVirtualService(c).GetHosts() {
		vh := snap.ResolveConfigHost(h, c.Namespace)
		for _, sh := range serverHosts {
			if overlaps(sh, vh) {
				return true
			}
		}
	}
	return false
}

// l4Matches: no match at all matches; otherwise any match whose port and
// gateways fit the server. On a gateway istiod looks at nothing else:
// sourceLabels and sourceNamespace would describe the router itself and
// are ignored, and so they are here.
func l4Matches(matches []*networkingv1alpha3.L4MatchAttributes, s *server, vsNS string) bool {
	if len(matches) == 0 {
		return true
	}
	for _, m := range matches {
		if l4Match(m.GetPort(), m.GetGateways(), s, vsNS) {
			return true
		}
	}
	return false
}

func l4Match(port uint32, gateways []string, s *server, vsNS string) bool {
	if port != 0 && port != s.port() {
		return false
	}
	if len(gateways) == 0 {
		return true
	}
	for _, g := range gateways {
		if model.ResolveGatewayName(g, vsNS) == s.gateway {
			return true
		}
	}
	return false
}

// tcpProxy forwards connections to one destination, or splits them by
// weight. A destination without a port goes to the only port of its
// service, else to the port the connection arrived on, as in Istio.
func tcpProxy(snap *model.Snapshot, c *model.Config, dests []*networkingv1alpha3.RouteDestination, listenerPort uint32) *listenerv3.Filter {
	proxy := &tcpproxyv3.TcpProxy{}
	var weighted []*tcpproxyv3.TcpProxy_WeightedCluster_ClusterWeight
	for _, d := range dests {
		name := networking.DestinationCluster(snap, d.GetDestination(), c.Namespace, listenerPort)
		if len(dests) == 1 {
			proxy.StatPrefix = name
			proxy.ClusterSpecifier = &tcpproxyv3.TcpProxy_Cluster{Cluster: name}
			break
		}
		if d.GetWeight() > 0 {
			weighted = append(weighted, &tcpproxyv3.TcpProxy_WeightedCluster_ClusterWeight{Name: name, Weight: uint32(d.GetWeight())})
		}
	}
	if len(dests) > 1 {
		if len(weighted) == 0 {
			return nil // Every weight is zero: nothing to send to.
		}
		proxy.StatPrefix = c.Name + "." + c.Namespace
		proxy.ClusterSpecifier = &tcpproxyv3.TcpProxy_WeightedClusters{WeightedClusters: &tcpproxyv3.TcpProxy_WeightedCluster{Clusters: weighted}}
	}
	return tcpFilter(proxy)
}

// singleClusterProxy forwards everything to one cluster.
func singleClusterProxy(cluster string) *listenerv3.Filter {
	return tcpFilter(&tcpproxyv3.TcpProxy{StatPrefix: cluster, ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: cluster}})
}

func tcpFilter(p *tcpproxyv3.TcpProxy) *listenerv3.Filter {
	return &listenerv3.Filter{Name: wellknown.TCPProxy, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: resource.Any(p)}}
}
