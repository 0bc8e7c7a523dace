package grpcgen

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"

	"github.com/pilotlight/pilotlight/translate/eds"
	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/resource"
)

// supported reports whether a gRPC client can reach the service at all.
// gRPC has no original-destination forwarding: it must be told the
// addresses to connect to. A headless Service has them (its pods, sent
// over EDS); a ServiceEntry with resolution NONE names only addresses to
// pass traffic through to, so proxyless clients get no cluster, route or
// listener for it (analyze reports this).
func supported(svc *model.Service) bool {
	return svc.Resolution != model.Passthrough || svc.Origin != model.FromServiceEntry
}

// usesEDS reports whether the service's clusters take their endpoints
// from EDS; DNS clusters carry their one address inline.
func usesEDS(svc *model.Service) bool {
	return supported(svc) && svc.Resolution != model.DNSLB && svc.Resolution != model.DNSRoundRobin
}

// cluster builds the cluster of one service port, or one subset of it
// (subset labels narrow the endpoints); ok is false when gRPC cannot
// express it.
func cluster(snap *model.Snapshot, name string, svc *model.Service, port model.Port, subset map[string]string) (*clusterv3.Cluster, bool) {
	if !supported(svc) {
		return nil, false
	}
	c := &clusterv3.Cluster{Name: name, LbPolicy: clusterv3.Cluster_ROUND_ROBIN}
	if usesEDS(svc) {
		// Headless services balance across their pods too: a gRPC client
		// needs no original-destination trick to reach them.
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS}
		c.EdsClusterConfig = &clusterv3.Cluster_EdsClusterConfig{EdsConfig: resource.ADS(), ServiceName: name}
		return c, true
	}
	// gRPC resolves DNS clusters itself, and only as LOGICAL_DNS with
	// exactly one name: resolution DNS, which would balance over several
	// names, gets the first of them. No name at all means no cluster,
	// since gRPC rejects a DNS cluster without one.
	addr := dnsAddress(snap, svc, port, subset)
	if addr == nil {
		return nil, false
	}
	c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_LOGICAL_DNS}
	c.LoadAssignment = &endpointv3.ClusterLoadAssignment{
		ClusterName: name,
		Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{{
			HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: addr}},
		}}}},
	}
	return c, true
}

// dnsAddress is the one name a DNS cluster resolves: an ExternalName
// service's target, else the first healthy endpoint of the port (a
// ServiceEntry's endpoint or, when it lists none, its host).
func dnsAddress(snap *model.Snapshot, svc *model.Service, port model.Port, subset map[string]string) *corev3.Address {
	if svc.ExternalName != "" {
		return eds.SocketAddress(svc.ExternalName, port.Number)
	}
	// Localities come sorted and none is empty, so the first endpoint of
	// the first locality is the first healthy endpoint in a stable order.
	cla := eds.LoadAssignment(snap, "", svc.Hostname, port.Name, subset, eds.LocalityLB{})
	if len(cla.GetEndpoints()) == 0 {
		return nil
	}
	return cla.GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress()
}
