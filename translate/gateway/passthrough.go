package gateway

import (
	"slices"
	"strconv"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/proto"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/pilotlight/pilotlight/translate/eds"
	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/networking"
	"github.com/pilotlight/pilotlight/translate/resource"
)

// An AUTO_PASSTHROUGH server (the east-west gateway of a multi-network
// mesh) routes on SNI alone: a sidecar in another network dials the
// gateway with the SNI outbound_.PORT_.SUBSET_.HOST, the DNS-safe form of
// the cluster it means, and the gateway forwards the still encrypted
// stream to that cluster's endpoints. istiod builds one filter chain and
// one "SNI-DNAT" cluster per service port (and subset) the server's hosts
// cover, and so does this file.

// sniDNATName is Istio's DNS SRV form of a cluster name.
func sniDNATName(port uint32, subset, host string) string {
	return "outbound_." + strconv.FormatUint(uint64(port), 10) + "_." + subset + "_." + host
}

// passthroughTarget is one cluster an AUTO_PASSTHROUGH server reaches.
type passthroughTarget struct {
	svc    *model.Service
	port   model.Port
	subset networking.Subset
}

func (t passthroughTarget) sni() string {
	return sniDNATName(t.port.Number, t.subset.Name, t.svc.Hostname)
}

func (t passthroughTarget) cluster() string {
	return resource.OutboundClusterName(t.port.Number, t.subset.Name, t.svc.Hostname)
}

// passthroughTargets lists the service ports (and DestinationRule
// subsets) in the mesh whose hostname one of hosts covers. Services
// outside the mesh and UDP ports are never reachable this way.
func passthroughTargets(snap *model.Snapshot, v model.OutboundView, hosts []string) []passthroughTarget {
	var out []passthroughTarget
	for _, svc := range snap.ExportedTo(v.Namespace) {
		if svc.MeshExternal || !coveredBy(svc.Hostname, hosts) {
			continue
		}
		subsets := append([]networking.Subset{{}}, networking.PolicyFor(snap, svc.Hostname, v.Namespace, v.Labels).Subsets...)
		for _, port := range svc.Ports {
			if port.Protocol == model.UDP {
				continue
			}
			for _, sub := range subsets {
				out = append(out, passthroughTarget{svc: svc, port: port, subset: sub})
			}
		}
	}
	return out
}

func coveredBy(hostname string, hosts []string) bool {
	for _, h := range hosts {
		if subsetOf(hostname, h) {
			return true
		}
	}
	return false
}

// autoPassthroughChains: one chain per target, matched on its SNI and on
// the ALPN values Istio's mTLS carries, so plain TLS from outside the
// mesh finds no chain.
func autoPassthroughChains(snap *model.Snapshot, v model.OutboundView, s *server) []chain {
	var out []chain
	for _, t := range passthroughTargets(snap, v, s.sniHosts()) {
		out = append(out, chain{
			sni:     []string{t.sni()},
			alpn:    slices.Clone(istioMTLSALPNs),
			filters: []*listenerv3.Filter{singleClusterProxy(t.sni())},
		})
	}
	return out
}

// autoPassthroughHosts are the hosts of every AUTO_PASSTHROUGH server of
// the router.
func autoPassthroughHosts(m *merged) []string {
	var hosts []string
	for _, key := range m.ports {
		for _, s := range m.servers[key] {
			if s.tls().GetMode() == networkingv1alpha3.ServerTLSSettings_AUTO_PASSTHROUGH && s.tls() != nil {
				hosts = append(hosts, s.sniHosts()...)
			}
		}
	}
	return hosts
}

// sniDNATClusters copies, under its SNI-DNAT name, every cluster an
// AUTO_PASSTHROUGH server routes to, with its endpoints under that name
// too. The copy carries no upstream TLS: the stream is the client's own
// mTLS, passed through.
func sniDNATClusters(clusters []resource.Resource, targets []passthroughTarget) []resource.Resource {
	byName := make(map[string]*clusterv3.Cluster, len(clusters))
	for _, r := range clusters {
		if c, ok := r.Message.(*clusterv3.Cluster); ok {
			byName[r.Name] = c
		}
	}
	var out []resource.Resource
	for _, t := range targets {
		orig := byName[t.cluster()]
		if orig == nil {
			continue
		}
		c := proto.Clone(orig).(*clusterv3.Cluster)
		c.Name = t.sni()
		if c.GetEdsClusterConfig() != nil {
			c.EdsClusterConfig.ServiceName = t.sni()
		}
		if c.GetLoadAssignment() != nil {
			c.LoadAssignment.ClusterName = t.sni()
		}
		c.TransportSocket = nil
		c.TransportSocketMatches = nil
		out = append(out, resource.Resource{Name: c.Name, Message: c})
	}
	return out
}

// sniDNATEndpoints are the load assignments of the SNI-DNAT clusters of
// EDS services.
func sniDNATEndpoints(snap *model.Snapshot, targets []passthroughTarget) []resource.Resource {
	var out []resource.Resource
	for _, t := range targets {
		if t.svc.Resolution != model.ClientSideLB {
			continue
		}
		out = append(out, resource.Resource{Name: t.sni(),
			Message: eds.LoadAssignment(snap, t.sni(), t.svc.Hostname, t.port.Name, t.subset.Labels, eds.LocalityLB{})})
	}
	return out
}
