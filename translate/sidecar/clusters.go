package sidecar

import (
	"math"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/pilotlight/pilotlight/translate/eds"
	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/networking"
	"github.com/pilotlight/pilotlight/translate/resource"
	"github.com/pilotlight/pilotlight/translate/security/mtls"
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
	services := snap.ServicesFor(v.Namespace, v.Labels)
	if v.Flavor == model.FlavorRouter {
		// Sidecar resources scope sidecars only: a gateway reaches every
		// service exported to its namespace, as in Istio.
		services = snap.ExportedTo(v.Namespace)
	}
	peers := mtls.New(snap)
	for _, svc := range services {
		policy := networking.PolicyFor(snap, svc.Hostname, v.Namespace, v.Labels)
		for _, port := range svc.Ports {
			if port.Protocol == model.UDP {
				continue // Envoy sidecars do not proxy UDP.
			}
			// The service's own cluster, then one per DestinationRule subset.
			for _, subset := range append([]networking.Subset{{}}, policy.Subsets...) {
				name := resource.OutboundClusterName(port.Number, subset.Name, svc.Hostname)
				c := outboundCluster(snap, name, svc, port, subset.Labels, timeout)
				var tp *networkingv1alpha3.TrafficPolicy
				if policy.Rule != nil {
					tp = networking.EffectivePolicy(model.AsDestinationRule(policy.Rule), subset.Name, port.Number)
					networking.ApplyPolicy(c, tp, networking.Envoy)
				}
				networking.ApplyLocalityConfig(c, snap, tp)
				networking.ApplyUpstreamTLS(c, snap, peers, svc, port, tp.GetTls(), networking.Envoy, v.WorkloadSDS)
				out = append(out, resource.Resource{Name: name, Message: c})
			}
		}
	}
	return out
}

// outboundCluster builds the cluster of one service port (or of one
// subset of it, whose labels narrow the endpoints). How Envoy finds the
// addresses follows the service's resolution: EDS for load-balanced
// services, the original destination for passthrough ones, and for DNS
// the endpoints' names inline, resolved by Envoy itself.
func outboundCluster(snap *model.Snapshot, name string, svc *model.Service, port model.Port, subset map[string]string, timeout *durationpb.Duration) *clusterv3.Cluster {
	c := &clusterv3.Cluster{
		Name:            name,
		ConnectTimeout:  timeout,
		CircuitBreakers: defaultCircuitBreakers(),
		// Panic mode off, as istiod sets it: when too few hosts are
		// healthy, keep to those rather than spray every host.
		CommonLbConfig: &clusterv3.Cluster_CommonLbConfig{HealthyPanicThreshold: &typev3.Percent{}},
		// Istio's default balancer since 1.14: least request beats round
		// robin when backends are uneven.
		LbPolicy: clusterv3.Cluster_LEAST_REQUEST,
	}
	switch svc.Resolution {
	case model.Passthrough:
		// A headless service or a ServiceEntry with resolution NONE:
		// forward to the address the caller picked, on the entry's
		// target port if it names one.
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_ORIGINAL_DST}
		c.LbPolicy = clusterv3.Cluster_CLUSTER_PROVIDED
		if port.TargetPort != 0 {
			c.LbConfig = &clusterv3.Cluster_OriginalDstLbConfig_{OriginalDstLbConfig: &clusterv3.Cluster_OriginalDstLbConfig{
				UpstreamPortOverride: wrapperspb.UInt32(port.TargetPort),
			}}
		}
	case model.DNSLB, model.DNSRoundRobin:
		dnsCluster(c, snap, svc, port, subset)
	default:
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS}
		c.EdsClusterConfig = &clusterv3.Cluster_EdsClusterConfig{EdsConfig: resource.ADS(), ServiceName: name}
	}
	if opts := upstreamProtocolOptions(port.Protocol); opts != nil {
		c.TypedExtensionProtocolOptions = map[string]*anypb.Any{httpProtocolOptionsKey: resource.Any(opts)}
	}
	return c
}

// dnsCluster makes c a cluster whose addresses Envoy resolves itself,
// with the names inline (DNS clusters cannot use EDS). An ExternalName
// service has one name; a ServiceEntry's names are its endpoints'
// addresses, the hosts themselves when it lists none. DNS resolution
// balances over everything every name returns (STRICT_DNS);
// DNS_ROUND_ROBIN connects to the first address of one name (LOGICAL_DNS,
// which Envoy accepts only with exactly one endpoint: the first).
func dnsCluster(c *clusterv3.Cluster, snap *model.Snapshot, svc *model.Service, port model.Port, subset map[string]string) {
	c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS}
	c.DnsLookupFamily = clusterv3.Cluster_V4_PREFERRED
	// Re-resolve at the mesh's rate, sooner when the record's TTL says
	// so, as istiod configures DNS clusters.
	c.DnsRefreshRate = snap.Mesh().GetDnsRefreshRate() //nolint:staticcheck // Envoy still honours it, and Istio's proxies are configured the same way.
	c.RespectDnsTtl = true                             //nolint:staticcheck // Envoy still honours it, and Istio's proxies are configured the same way.
	if svc.ExternalName != "" {
		c.LoadAssignment = &endpointv3.ClusterLoadAssignment{
			ClusterName: c.Name,
			Endpoints: []*endpointv3.LocalityLbEndpoints{{
				LbEndpoints: []*endpointv3.LbEndpoint{{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{
					Endpoint: &endpointv3.Endpoint{Address: eds.SocketAddress(svc.ExternalName, port.Number)},
				}}},
			}},
		}
		return
	}
	// A DNS cluster's endpoints are part of the cluster, which does not
	// depend on the client's locality: locality load balancing applies
	// to EDS clusters only.
	cla := eds.LoadAssignment(snap, c.Name, svc.Hostname, port.Name, subset, eds.LocalityLB{})
	if svc.Resolution == model.DNSRoundRobin {
		if first, ok := firstEndpoint(cla); ok {
			c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_LOGICAL_DNS}
			cla = first
		}
		// With no endpoint at all the cluster stays STRICT_DNS and empty:
		// requests fail with 503 instead of Envoy rejecting the cluster.
	}
	c.LoadAssignment = cla
}

// firstEndpoint narrows an assignment to its first endpoint, in its
// locality.
func firstEndpoint(cla *endpointv3.ClusterLoadAssignment) (*endpointv3.ClusterLoadAssignment, bool) {
	if len(cla.GetEndpoints()) == 0 || len(cla.GetEndpoints()[0].GetLbEndpoints()) == 0 {
		return nil, false
	}
	loc := cla.GetEndpoints()[0]
	ep := loc.GetLbEndpoints()[0]
	return &endpointv3.ClusterLoadAssignment{
		ClusterName: cla.GetClusterName(),
		Endpoints: []*endpointv3.LocalityLbEndpoints{{
			Locality:            loc.GetLocality(),
			LbEndpoints:         []*endpointv3.LbEndpoint{ep},
			LoadBalancingWeight: ep.GetLoadBalancingWeight(),
		}},
	}, true
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
			// Idle upstream connections to arbitrary destinations are
			// closed after 5 minutes, as istiod does, not Envoy's hour.
			CommonHttpProtocolOptions: &corev3.HttpProtocolOptions{IdleTimeout: durationpb.New(5 * time.Minute)},
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

// inboundClusters: one inbound|PORT|| per port the workload serves
// (inboundPorts), forwarding to the workload's own address on that port,
// or to a Sidecar ingress listener's defaultEndpoint.
func inboundClusters(snap *model.Snapshot, v model.InboundView) []resource.Resource {
	var out []resource.Resource
	timeout := snap.Mesh().GetConnectTimeout()
	for _, ip := range inboundPorts(snap, v) {
		name := resource.InboundClusterName(ip.port)
		c := passthroughCluster(name, timeout, true)
		if ip.endpoint != nil {
			c = &clusterv3.Cluster{
				Name:                 name,
				ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
				ConnectTimeout:       timeout,
				CircuitBreakers:      defaultCircuitBreakers(),
				LoadAssignment: &endpointv3.ClusterLoadAssignment{
					ClusterName: name,
					Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{{
						HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: ip.endpoint}},
					}}}},
				},
			}
		}
		c.TypedExtensionProtocolOptions = nil
		if opts := upstreamProtocolOptions(ip.protocol); opts != nil {
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
		policy := networking.PolicyFor(snap, svc.Hostname, v.Namespace, v.Labels)
		subsets := append([]networking.Subset{{}}, policy.Subsets...)
		for _, port := range svc.Ports {
			if port.Protocol == model.UDP {
				continue
			}
			for _, subset := range subsets {
				name := resource.OutboundClusterName(port.Number, subset.Name, svc.Hostname)
				lb := networking.LocalityLB(snap, policy.Rule, subset.Name, port.Number, v)
				out = append(out, resource.Resource{Name: name, Message: eds.LoadAssignment(snap, name, svc.Hostname, port.Name, subset.Labels, lb)})
			}
		}
	}
	return out
}
