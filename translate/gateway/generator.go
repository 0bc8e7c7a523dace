package gateway

import (
	"cmp"
	"slices"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/resource"
	"github.com/pilotlight/pilotlight/translate/sidecar"
)

// Generator builds the config of Envoy router proxies.
type Generator struct{}

// Outbound returns a router's resources of one type. Listeners, routes
// and secrets come from the Gateways that select the router (by the
// labels in its view); clusters and endpoints are the sidecar
// generator's, which a router shares, plus the SNI-DNAT clusters of its
// AUTO_PASSTHROUGH servers.
func (Generator) Outbound(snap *model.Snapshot, v model.OutboundView, typeURL string) []resource.Resource {
	var out []resource.Resource
	switch typeURL {
	case resource.ListenerType:
		out = listeners(snap, v, serversOf(snap, v))
	case resource.RouteType:
		out = routes(snap, v, serversOf(snap, v))
	case resource.SecretType:
		out = secrets(snap, v, listeners(snap, v, serversOf(snap, v)))
	case resource.ClusterType:
		out = sidecar.Generator{}.Outbound(snap, v, typeURL)
		if hosts := autoPassthroughHosts(serversOf(snap, v)); len(hosts) > 0 {
			out = append(out, sniDNATClusters(out, passthroughTargets(snap, v, hosts))...)
		}
	case resource.EndpointType:
		out = sidecar.Generator{}.Outbound(snap, v, typeURL)
		// Endpoints may be generated for a view without labels (see
		// translate.OutboundScope), so the SNI-DNAT load assignments
		// cover the AUTO_PASSTHROUGH servers of every Gateway; a router
		// asks only for those its clusters name.
		if hosts := allAutoPassthroughHosts(snap); len(hosts) > 0 {
			out = append(out, sniDNATEndpoints(snap, passthroughTargets(snap, v, hosts))...)
		}
	}
	slices.SortFunc(out, func(a, b resource.Resource) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// serversOf merges the servers of the Gateways that select the router of
// view v, on the ports its Services make it listen on.
func serversOf(snap *model.Snapshot, v model.OutboundView) *merged {
	return mergeGateways(snap.GatewaysFor(v.Labels), snap.GatewayPorts(v.Namespace, v.Labels))
}

// allAutoPassthroughHosts are the hosts of every AUTO_PASSTHROUGH server
// of every Gateway.
func allAutoPassthroughHosts(snap *model.Snapshot) []string {
	var hosts []string
	for _, c := range snap.Configs(model.KindGateway) {
		for _, s := range model.AsGateway(c).GetServers() {
			if s.GetTls() != nil && s.GetTls().GetMode() == networkingv1alpha3.ServerTLSSettings_AUTO_PASSTHROUGH {
				for _, h := range sanitizeHosts(s.GetHosts(), c.Namespace) {
					hosts = append(hosts, bareHost(h))
				}
			}
		}
	}
	return hosts
}

// Inbound: a router has no inbound side; it serves nothing of its own.
func (Generator) Inbound(*model.Snapshot, model.InboundView, string) []resource.Resource { return nil }

// OutboundNamed: Envoy asks only for names the router's own listeners and
// clusters gave it, all of which are in the Outbound sets.
func (Generator) OutboundNamed(*model.Snapshot, model.OutboundView, string, string) (resource.Resource, bool) {
	return resource.Resource{}, false
}

// InboundNamed: see OutboundNamed.
func (Generator) InboundNamed(*model.Snapshot, model.InboundView, string, string) (resource.Resource, bool) {
	return resource.Resource{}, false
}
