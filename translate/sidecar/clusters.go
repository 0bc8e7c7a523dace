package sidecar

import (
	"math"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/pilotlight/pilotlight/translate/eds"
	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/networking"
	"github.com/pilotlight/pilotlight/translate/resource"
)

const httpProtocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

// outboundClusters: one cluster per service port, plus the passthrough and
// black-hole clusters every sidecar needs.
func outboundClusters(snap *model.Snapshot, v model.OutboundView) []resource.Resource {
	timeout := snap.Mesh().GetConnectTimeout()
	out := []resource.Resource{
		{Name: resource.PassthroughCluster, Message: passthroughCluster(resource.PassthroughCluster, timeout, false)},
		{Name: resource.BlackHoleCluster, Message: blackHoleCluster(timeout)},
	}
	if v.Flavor == model.FlavorSidecar {
		out = append(out, resource.Resource{Name: resource.InboundPassthroughCluster,
			Message: passthroughCluster(resource.InboundPassthroughCluster, timeout, true)})
	}
	for _, svc := range snap.ServicesFor(v.Namespace) {
		policy := networking.PolicyFor(snap, svc.Hostname, v.Namespace)
		for _, port := range svc.Ports {
			if port.Protocol == model.UDP {
				continue // Envoy sidecars do not proxy UDP.
			}
			// The service's own cluster, then one per DestinationRule subset.
			for _, subset := range append([]networking.Subset{{}}, policy.Subsets...) {
				name := resource.OutboundClusterName(port.Number, subset.Name, svc.Hostname)
				c := outboundCluster(name, svc, port, timeout)
				if policy.Rule != nil {
					networking.ApplyPolicy(c, networking.EffectivePolicy(model.AsDestinationRule(policy.Rule), subset.Name, port.Number), networking.Envoy)
				}
				out = append(out, resource.Resource{Name: name, Message: c})
			}
		}
	}
	return out
}

func outboundCluster(name string, svc *model.Service, port model.Port, timeout *durationpb.Duration) *clusterv3.Cluster {
	c := &clusterv3.Cluster{
		Name:            name,
		ConnectTimeout:  timeout,
		CircuitBreakers: defaultCircuitBreakers(),
		CommonLbConfig:  &clusterv3.Cluster_CommonLbConfig{},
		// Istio's default balancer since 1.14: least request beats round
		// robin when backends are uneven.
		LbPolicy: clusterv3.Cluster_LEAST_REQUEST,
	}
	switch svc.Resolution {
	case model.Passthrough:
		// A headless service: forward to the pod the caller picked.
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_ORIGINAL_DST}
		c.LbPolicy = clusterv3.Cluster_CLUSTER_PROVIDED
	case model.DNSLB:
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS}
		c.DnsLookupFamily = clusterv3.Cluster_V4_PREFERRED
		c.LoadAssignment = &endpointv3.ClusterLoadAssignment{
			ClusterName: name,
			Endpoints: []*endpointv3.LocalityLbEndpoints{{
				LbEndpoints: []*endpointv3.LbEndpoint{{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{
					Endpoint: &endpointv3.Endpoint{Address: eds.SocketAddress(svc.ExternalName, port.Number)},
				}}},
			}},
		}
	default:
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS}
		c.EdsClusterConfig = &clusterv3.Cluster_EdsClusterConfig{EdsConfig: resource.ADS(), ServiceName: name}
	}
	if opts := upstreamProtocolOptions(port.Protocol); opts != nil {
		c.TypedExtensionProtocolOptions = map[string]*anypb.Any{httpProtocolOptionsKey: resource.Any(opts)}
	}
	return c
}

// upstreamProtocolOptions pins the upstream HTTP version to the port's
// declared protocol: h2 for http2/grpc, h1 for http. Opaque TCP ports need
// none.
func upstreamProtocolOptions(p model.Protocol) *httpv3.HttpProtocolOptions {
	switch {
	case p.IsHTTP2():
		return &httpv3.HttpProtocolOptions{UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{
			ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{
					Http2ProtocolOptions: &corev3.Http2ProtocolOptions{},
				},
			},
		}}
	case p.IsHTTP():
		return &httpv3.HttpProtocolOptions{UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{
			ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_HttpProtocolOptions{
					HttpProtocolOptions: &corev3.Http1ProtocolOptions{},
				},
			},
		}}
	}
	return nil
}

// defaultCircuitBreakers lifts Envoy's built-in limits (1024 connections,
// 3 retries in flight...), which silently cap busy services: Istio does the
// same and lets DestinationRules set real limits.
func defaultCircuitBreakers() *clusterv3.CircuitBreakers {
	unlimited := wrapperspb.UInt32(math.MaxUint32)
	return &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{{
		MaxConnections:     unlimited,
		MaxPendingRequests: unlimited,
		MaxRequests:        unlimited,
		MaxRetries:         unlimited,
		TrackRemaining:     true,
	}}}
}

// passthroughCluster forwards to the original destination. The inbound
// variant binds to 127.0.0.6 so the application's reply is not captured
// again by the sidecar's iptables rules.
func passthroughCluster(name string, timeout *durationpb.Duration, inbound bool) *clusterv3.Cluster {
	c := &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_ORIGINAL_DST},
		LbPolicy:             clusterv3.Cluster_CLUSTER_PROVIDED,
		ConnectTimeout:       timeout,
		CircuitBreakers:      defaultCircuitBreakers(),
		CleanupInterval:      durationpb.New(60 * time.Second),
		TypedExtensionProtocolOptions: map[string]*anypb.Any{httpProtocolOptionsKey: resource.Any(&httpv3.HttpProtocolOptions{
			UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_UseDownstreamProtocolConfig{
				UseDownstreamProtocolConfig: &httpv3.HttpProtocolOptions_UseDownstreamHttpConfig{
					HttpProtocolOptions:  &corev3.Http1ProtocolOptions{},
					Http2ProtocolOptions: &corev3.Http2ProtocolOptions{},
				},
			},
		})},
	}
	if inbound {
		c.UpstreamBindConfig = &corev3.BindConfig{SourceAddress: &corev3.SocketAddress{
			Address: resource.InboundPassthroughBindIP, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 0},
		}}
	}
	return c
}

// blackHoleCluster has no endpoints: traffic sent there fails fast.
func blackHoleCluster(timeout *durationpb.Duration) *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 resource.BlackHoleCluster,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		ConnectTimeout:       timeout,
		LoadAssignment:       &endpointv3.ClusterLoadAssignment{ClusterName: resource.BlackHoleCluster},
	}
}

// inboundClusters: one inbound|PORT|| per distinct port the workload's
// containers listen on (the service's target port), forwarding to the
// workload's own address.
func inboundClusters(snap *model.Snapshot, v model.InboundView) []resource.Resource {
	var out []resource.Resource
	seen := map[uint32]bool{}
	timeout := snap.Mesh().GetConnectTimeout()
	for _, inst := range snap.InstancesAt(v.IPs) {
		if inst.Port.Protocol == model.UDP || seen[inst.Endpoint.Port] {
			continue
		}
		seen[inst.Endpoint.Port] = true
		name := resource.InboundClusterName(inst.Endpoint.Port)
		c := passthroughCluster(name, timeout, true)
		c.TypedExtensionProtocolOptions = nil
		if opts := upstreamProtocolOptions(inst.Port.Protocol); opts != nil {
			c.TypedExtensionProtocolOptions = map[string]*anypb.Any{httpProtocolOptionsKey: resource.Any(opts)}
		}
		out = append(out, resource.Resource{Name: name, Message: c})
	}
	return out
}

// outboundEndpoints: a ClusterLoadAssignment for every EDS cluster,
// subsets included.
func outboundEndpoints(snap *model.Snapshot, v model.OutboundView) []resource.Resource {
	var out []resource.Resource
	for _, svc := range snap.ExportedTo(v.Namespace) {
		if svc.Resolution != model.ClientSideLB {
			continue
		}
		subsets := append([]networking.Subset{{}}, networking.PolicyFor(snap, svc.Hostname, v.Namespace).Subsets...)
		for _, port := range svc.Ports {
			if port.Protocol == model.UDP {
				continue
			}
			for _, subset := range subsets {
				name := resource.OutboundClusterName(port.Number, subset.Name, svc.Hostname)
				out = append(out, resource.Resource{Name: name, Message: eds.LoadAssignment(snap, name, svc.Hostname, port.Name, subset.Labels)})
			}
		}
	}
	return out
}
