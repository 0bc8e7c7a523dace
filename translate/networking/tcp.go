package networking

import (
	"slices"

	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/resource"
)

// TCPProxy builds the tcp_proxy for one TCP service port: the first
// VirtualService tcp rule whose match applies (port, source namespace,
// gateways) picks the destinations, weighted when there are several;
// without one, the service's own cluster. Matches on destination subnets
// need per-connection data a sidecar's outbound listener does not split
// on, so such rules are skipped (Analyze reports them).
func TCPProxy(in RouteInput) *tcpproxyv3.TcpProxy {
	own := resource.OutboundClusterName(in.Port.Number, "", in.Service.Hostname)
	out := &tcpproxyv3.TcpProxy{StatPrefix: own, ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: own}}
	if in.VirtualService == nil {
		return out
	}
	for _, rule := range model.AsVirtualService(in.VirtualService).GetTcp() {
		if !tcpRuleApplies(rule.GetMatch(), in) || len(rule.GetRoute()) == 0 {
			continue
		}
		if len(rule.GetRoute()) == 1 {
			c := destinationCluster(rule.GetRoute()[0].GetDestination(), in)
			out.StatPrefix, out.ClusterSpecifier = c, &tcpproxyv3.TcpProxy_Cluster{Cluster: c}
			return out
		}
		wc := &tcpproxyv3.TcpProxy_WeightedCluster{}
		for _, d := range rule.GetRoute() {
			if d.GetWeight() > 0 {
				wc.Clusters = append(wc.Clusters, &tcpproxyv3.TcpProxy_WeightedCluster_ClusterWeight{
					Name: destinationCluster(d.GetDestination(), in), Weight: uint32(d.GetWeight()),
				})
			}
		}
		if len(wc.Clusters) > 0 {
			out.ClusterSpecifier = &tcpproxyv3.TcpProxy_WeightedClusters{WeightedClusters: wc}
		}
		return out
	}
	return out
}

func tcpRuleApplies(matches []*networkingv1alpha3.L4MatchAttributes, in RouteInput) bool {
	if len(matches) == 0 {
		return true
	}
	for _, m := range matches {
		if m.GetPort() != 0 && m.GetPort() != in.Port.Number {
			continue
		}
		if ns := m.GetSourceNamespace(); ns != "" && ns != in.ClientNamespace {
			continue
		}
		if !model.Selects(m.GetSourceLabels(), in.ClientLabels) || len(m.GetDestinationSubnets()) > 0 {
			continue
		}
		if gws := m.GetGateways(); len(gws) > 0 && !slices.Contains(gws, model.MeshGateway) {
			continue
		}
		return true
	}
	return false
}
