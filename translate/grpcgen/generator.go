// Package grpcgen generates config for proxyless gRPC clients and servers
// (node metadata GENERATOR=grpc) in the forms gRPC's xDS implementations
// accept: an api_listener per HOST:PORT the application dials, named
// exactly as dialled; one route table and one EDS cluster per service
// port, named outbound|PORT||HOST; and, for xds.NewGRPCServer, a server
// listener named xds.istio.io/grpc/lds/inbound/IP:PORT that echoes the
// address the server listens on.
//
// gRPC clients never subscribe by wildcard to listeners, and reject Envoy
// idioms they do not implement (transport_socket_matches, unweighted
// localities), so nothing here reuses the sidecar generator's protos.
package grpcgen

import (
	"cmp"
	"net"
	"slices"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/pilotlight/pilotlight/translate/eds"
	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/networking"
	"github.com/pilotlight/pilotlight/translate/resource"
	"github.com/pilotlight/pilotlight/translate/security"
	"github.com/pilotlight/pilotlight/translate/security/mtls"
)

// Generator builds proxyless gRPC config.
type Generator struct{}

// Outbound returns the clusters, route tables and endpoints of every
// service port. Client listeners exist only by name (OutboundNamed).
func (Generator) Outbound(snap *model.Snapshot, v model.OutboundView, typeURL string) []resource.Resource {
	services := snap.ServicesFor(v.Namespace, v.Labels)
	if typeURL == resource.EndpointType {
		services = snap.ExportedTo(v.Namespace)
	}
	var out []resource.Resource
	for _, svc := range services {
		if !supported(svc) {
			continue
		}
		policy := networking.PolicyFor(snap, svc.Hostname, v.Namespace, v.Labels)
		for _, port := range svc.Ports {
			if port.Protocol == model.UDP {
				continue
			}
			name := resource.OutboundClusterName(port.Number, "", svc.Hostname)
			if typeURL == resource.RouteType {
				out = append(out, resource.Resource{Name: name, Message: routeConfig(snap, v, svc, port)})
				continue
			}
			// The service's own cluster, then one per DestinationRule subset.
			for _, subset := range append([]networking.Subset{{}}, policy.Subsets...) {
				name := resource.OutboundClusterName(port.Number, subset.Name, svc.Hostname)
				switch typeURL {
				case resource.ClusterType:
					c, ok := cluster(snap, name, svc, port, subset.Labels)
					if !ok {
						continue
					}
					if policy.Rule != nil {
						p := networking.EffectivePolicy(model.AsDestinationRule(policy.Rule), subset.Name, port.Number)
						networking.ApplyPolicy(c, p, networking.GRPC)
						networking.ApplyUpstreamTLS(c, snap, nil, svc, port, p.GetTls(), networking.GRPC, false)
					}
					out = append(out, resource.Resource{Name: name, Message: c})
				case resource.EndpointType:
					if usesEDS(svc) {
						out = append(out, resource.Resource{Name: name, Message: eds.LoadAssignment(snap, name, svc.Hostname, port.Name, subset.Labels,
							networking.LocalityLB(snap, policy.Rule, subset.Name, port.Number, v))})
					}
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b resource.Resource) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// Inbound: a proxyless server's listeners exist only by name
// (InboundNamed); there are no inbound clusters.
func (Generator) Inbound(*model.Snapshot, model.InboundView, string) []resource.Resource {
	return nil
}

// OutboundNamed builds the client listener for a dial target HOST:PORT,
// where HOST is any name HostAliases allows from the client's namespace.
// A target without a port resolves when the service has exactly one.
func (Generator) OutboundNamed(snap *model.Snapshot, v model.OutboundView, typeURL, name string) (resource.Resource, bool) {
	if typeURL != resource.ListenerType || strings.HasPrefix(name, resource.GRPCInboundListenerPrefix) {
		return resource.Resource{}, false
	}
	host, portStr, err := net.SplitHostPort(name)
	if err != nil {
		host, portStr = name, ""
	}
	svc := snap.ResolveHost(host, v.Namespace)
	if svc == nil || !snap.InScope(svc, v.Namespace, v.Labels) || !supported(svc) {
		return resource.Resource{}, false
	}
	var port model.Port
	switch {
	case portStr != "":
		n, err := strconv.ParseUint(portStr, 10, 32)
		if err != nil {
			return resource.Resource{}, false
		}
		p, ok := svc.PortByNumber(uint32(n))
		if !ok {
			return resource.Resource{}, false
		}
		port = p
	case len(svc.Ports) == 1:
		port = svc.Ports[0]
	default:
		return resource.Resource{}, false
	}
	if port.Protocol == model.UDP {
		return resource.Resource{}, false
	}
	return resource.Resource{Name: name, Message: clientListener(name, resource.OutboundClusterName(port.Number, "", svc.Hostname))}, true
}

// InboundNamed builds the listener a gRPC server asks for when it starts
// serving on IP:PORT. It is sent even when no service selects the
// workload on that port: without a listener the server would never leave
// NOT_SERVING.
func (Generator) InboundNamed(snap *model.Snapshot, v model.InboundView, typeURL, name string) (resource.Resource, bool) {
	if typeURL != resource.ListenerType {
		return resource.Resource{}, false
	}
	addr, ok := strings.CutPrefix(name, resource.GRPCInboundListenerPrefix)
	if !ok {
		return resource.Resource{}, false
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return resource.Resource{}, false
	}
	port, err := strconv.ParseUint(portStr, 10, 32)
	if err != nil || port == 0 || port > 65535 {
		return resource.Resource{}, false
	}
	mode := mtls.ForGRPCServer(mtls.New(snap).ForWorkload(v.Namespace, v.Labels).ForPort(uint32(port)), v.Labels)
	return resource.Resource{Name: name, Message: serverListener(name, host, uint32(port), mode, security.GRPCServerFilters(snap, v))}, true
}

// routeConfig: one route table per service port, with the routes of the
// VirtualService that applies (or a default route). Its single virtual
// host matches any authority, because every alias listener of the port
// shares the table and gRPC matches the virtual host against the dialled
// name.
func routeConfig(snap *model.Snapshot, v model.OutboundView, svc *model.Service, port model.Port) *routev3.RouteConfiguration {
	name := resource.OutboundClusterName(port.Number, "", svc.Hostname)
	return &routev3.RouteConfiguration{
		Name: name,
		VirtualHosts: []*routev3.VirtualHost{{
			Name:    name,
			Domains: []string{"*"},
			Routes:  networking.HTTPRoutes(networking.MeshRouteInput(snap, v, svc, port, networking.GRPC)),
		}},
	}
}

func clientListener(name, routeName string) *listenerv3.Listener {
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix: name,
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			ConfigSource:    resource.ADS(),
			RouteConfigName: routeName,
		}},
		// Faults are configured per route; the filter must be in the chain.
		HttpFilters: []*hcmv3.HttpFilter{resource.FaultFilter(), resource.RouterFilter()},
	}
	return &listenerv3.Listener{
		Name:        name,
		ApiListener: &listenerv3.ApiListener{ApiListener: resource.Any(hcm)},
	}
}

// serverListener: gRPC checks that the listener's address equals the one
// it listens on, and serves RPCs only through routes whose action is
// non-forwarding. Authorization filters run before the router. Its one
// filter chain enforces the port's peer authentication, which for gRPC is
// STRICT (mTLS only) or DISABLE (plaintext only); see mtls.ForGRPCServer.
func serverListener(name, host string, port uint32, mode mtls.Mode, policy []*hcmv3.HttpFilter) *listenerv3.Listener {
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix: name,
		RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: &routev3.RouteConfiguration{
			Name: resource.InboundClusterName(port),
			VirtualHosts: []*routev3.VirtualHost{{
				Name:    resource.InboundVirtualHostName(port),
				Domains: []string{"*"},
				Routes: []*routev3.Route{{
					Name:   "default",
					Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
					Action: &routev3.Route_NonForwardingAction{NonForwardingAction: &routev3.NonForwardingAction{}},
				}},
			}},
		}},
		HttpFilters: append(slices.Clone(policy), resource.RouterFilter()),
	}
	chain := &listenerv3.FilterChain{
		Name:    "inbound|" + strconv.FormatUint(uint64(port), 10),
		Filters: []*listenerv3.Filter{resource.HCMFilter(hcm)},
	}
	if mode == mtls.Strict {
		chain.TransportSocket = networking.GRPCServerTransportSocket()
	}
	return &listenerv3.Listener{
		Name:             name,
		Address:          eds.SocketAddress(host, port),
		TrafficDirection: corev3.TrafficDirection_INBOUND,
		FilterChains:     []*listenerv3.FilterChain{chain},
	}
}
