package networking

import (
	"slices"
	"strings"

	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/resource"
)

// L4Chain is one way a sidecar forwards connections to a TCP or TLS
// service port: which connections it takes, by the SNI the client sends
// and the address it dialled (neither set: all of them), and where they
// go.
type L4Chain struct {
	ServerNames        []string
	DestinationSubnets []string
	Proxy              *tcpproxyv3.TcpProxy
}

// L4Chains returns the chains of one TCP or TLS service port, the most
// specific first, as Istio builds them for sidecars.
//
// A TLS port (TLS, HTTPS) is routed by the VirtualService's tls rules:
// each match that applies to the client (port, source namespace and
// labels, gateways) becomes a chain on its SNI hosts and destination
// subnets; a later match repeating an earlier one's SNI hosts and subnets
// can never be reached and is left out. When one applies, connections
// that match none are not forwarded, as in Istio.
//
// Any other TCP port is routed by the tcp rules: matches with destination
// subnets become chains on those subnets, and the first match without
// (or a rule without matches) ends the list as the catch-all.
//
// Either way, without a catch-all from the rules the port's own cluster
// is the catch-all.
func L4Chains(in RouteInput) []L4Chain {
	vs := &networkingv1alpha3.VirtualService{}
	if in.VirtualService != nil {
		vs = model.AsVirtualService(in.VirtualService)
	}
	var out []L4Chain
	if in.Port.Protocol == model.TLS || in.Port.Protocol == model.HTTPS {
		seen := map[string]bool{}
		for _, rule := range vs.GetTls() {
			for _, m := range rule.GetMatch() {
				if len(rule.GetRoute()) == 0 || !l4Applies(m.GetPort(), m.GetSourceNamespace(), m.GetSourceLabels(), m.GetGateways(), in) {
					continue
				}
				key := strings.Join(m.GetSniHosts(), ",") + "|" + strings.Join(m.GetDestinationSubnets(), ",")
				if p := tcpProxyTo(rule.GetRoute(), in); p != nil && !seen[key] {
					seen[key] = true
					out = append(out, L4Chain{ServerNames: m.GetSniHosts(), DestinationSubnets: m.GetDestinationSubnets(), Proxy: p})
				}
			}
		}
		if len(out) > 0 {
			return out
		}
		return []L4Chain{{Proxy: ownCluster(in)}}
	}
	for _, rule := range vs.GetTcp() {
		p := tcpProxyTo(rule.GetRoute(), in)
		if p == nil {
			continue
		}
		if len(rule.GetMatch()) == 0 {
			return append(out, L4Chain{Proxy: p})
		}
		var subnets []string
		for _, m := range rule.GetMatch() {
			if !l4Applies(m.GetPort(), m.GetSourceNamespace(), m.GetSourceLabels(), m.GetGateways(), in) {
				continue
			}
			if len(m.GetDestinationSubnets()) == 0 {
				return append(out, L4Chain{Proxy: p})
			}
			subnets = append(subnets, m.GetDestinationSubnets()...)
		}
		if len(subnets) > 0 {
			out = append(out, L4Chain{DestinationSubnets: subnets, Proxy: p})
		}
	}
	return append(out, L4Chain{Proxy: ownCluster(in)})
}

// ownCluster forwards to the service port's own cluster.
func ownCluster(in RouteInput) *tcpproxyv3.TcpProxy {
	own := resource.OutboundClusterName(in.Port.Number, "", in.Service.Hostname)
	return &tcpproxyv3.TcpProxy{StatPrefix: own, ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: own}}
}

// tcpProxyTo forwards to a rule's destinations, weighted when there are
// several; nil when none has weight.
func tcpProxyTo(routes []*networkingv1alpha3.RouteDestination, in RouteInput) *tcpproxyv3.TcpProxy {
	if len(routes) == 1 {
		c := destinationCluster(routes[0].GetDestination(), in)
		return &tcpproxyv3.TcpProxy{StatPrefix: c, ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: c}}
	}
	wc := &tcpproxyv3.TcpProxy_WeightedCluster{}
	for _, d := range routes {
		if d.GetWeight() > 0 {
			wc.Clusters = append(wc.Clusters, &tcpproxyv3.TcpProxy_WeightedCluster_ClusterWeight{
				Name: destinationCluster(d.GetDestination(), in), Weight: uint32(d.GetWeight()),
			})
		}
	}
	if len(wc.Clusters) == 0 {
		return nil
	}
	return &tcpproxyv3.TcpProxy{
		StatPrefix:       resource.OutboundClusterName(in.Port.Number, "", in.Service.Hostname),
		ClusterSpecifier: &tcpproxyv3.TcpProxy_WeightedClusters{WeightedClusters: wc},
	}
}

// l4Applies checks the parts of a tcp or tls match that a sidecar
// decides when its config is built: they describe the client, not the
// connection.
func l4Applies(port uint32, sourceNS string, sourceLabels map[string]string, gateways []string, in RouteInput) bool {
	return (port == 0 || port == in.Port.Number) &&
		(sourceNS == "" || sourceNS == in.ClientNamespace) &&
		model.Selects(sourceLabels, in.ClientLabels) &&
		(len(gateways) == 0 || slices.Contains(gateways, model.MeshGateway))
}
