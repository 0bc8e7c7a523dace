package parity

import (
	"fmt"
	"strconv"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/pilotlight/pilotlight/translate/resource"
	"github.com/pilotlight/pilotlight/xds/client"
)

// clusterAndEndpointFacts records every cluster by Istio's name and, for
// EDS clusters, the endpoints of the load assignment it names.
func clusterAndEndpointFacts(f facts, cfg client.Config) {
	eds := cfg.Resources[resource.EndpointType]
	for _, m := range cfg.Resources[resource.ClusterType] {
		c := normalizeCluster(m.(*clusterv3.Cluster))
		key := "C " + c.GetName()
		f.fields(key, c, "eds_cluster_config", "load_assignment", "filters")
		var filters []string
		for _, flt := range c.GetFilters() {
			if !isTelemetry(flt.GetName(), flt.GetTypedConfig()) {
				filters = append(filters, text(flt.GetTypedConfig()))
			}
		}
		if len(filters) > 0 {
			f.add(key+" .filters", fmt.Sprint(filters))
		}
		if c.GetLoadAssignment() != nil {
			endpointFacts(f, key+" load_assignment", c.GetLoadAssignment())
		}
		if e := c.GetEdsClusterConfig(); e != nil {
			name := e.GetServiceName()
			if name == "" {
				name = c.GetName()
			}
			la, ok := eds[name]
			if !ok {
				f.add(key+" eds", "missing load assignment "+strconv.Quote(name))
				continue
			}
			endpointFacts(f, key+" eds", la.(*endpointv3.ClusterLoadAssignment))
		}
	}
}

// endpointFacts records a load assignment: its policy, and each endpoint
// by address with its weight, locality, priority and health, and apart
// from those the TLS mode that Istio's automatic mutual TLS matches on
// (the endpoint's only metadata that changes what Envoy does).
func endpointFacts(f facts, key string, la *endpointv3.ClusterLoadAssignment) {
	f.fields(key, la, "cluster_name", "endpoints")
	for _, loc := range la.GetEndpoints() {
		for _, lb := range loc.GetLbEndpoints() {
			addr := address(lb.GetEndpoint().GetAddress())
			if h := lb.GetEndpoint().GetHostname(); h != "" {
				addr += " hostname=" + h
			}
			tlsMode := lb.GetMetadata().GetFilterMetadata()["envoy.transport_socket_match"].GetFields()["tlsMode"].GetStringValue()
			// Envoy routes to UNKNOWN endpoints as to HEALTHY ones.
			health := lb.GetHealthStatus()
			if health == corev3.HealthStatus_UNKNOWN {
				health = corev3.HealthStatus_HEALTHY
			}
			desc := fmt.Sprintf("weight=%d locality=%s locality_weight=%d priority=%d health=%s",
				lb.GetLoadBalancingWeight().GetValue(), text(loc.GetLocality()), loc.GetLoadBalancingWeight().GetValue(),
				loc.GetPriority(), health)
			if others := endpointExtras(lb); others != "" {
				desc += " " + others
			}
			f.add(key+" endpoint "+addr, desc)
			if tlsMode != "" {
				f.add(key+" endpoint "+addr+" tlsMode", tlsMode)
			}
		}
	}
}

// normalizeCluster rewrites, on a copy, upstream HTTP options Envoy reads
// alike: HTTP/1.1 with default settings is what a cluster without
// options speaks, and empty common options are no options.
func normalizeCluster(c *clusterv3.Cluster) *clusterv3.Cluster {
	c = proto.Clone(c).(*clusterv3.Cluster)
	const key = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
	a, ok := c.GetTypedExtensionProtocolOptions()[key]
	if !ok {
		return c
	}
	opts := &httpv3.HttpProtocolOptions{}
	if err := a.UnmarshalTo(opts); err != nil {
		return c
	}
	if cho := opts.GetCommonHttpProtocolOptions(); cho != nil && proto.Size(cho) == 0 {
		opts.CommonHttpProtocolOptions = nil
	}
	if h1 := opts.GetExplicitHttpConfig().GetHttpProtocolOptions(); h1 != nil && proto.Size(h1) == 0 {
		opts.UpstreamProtocolOptions = nil
	}
	if proto.Size(opts) == 0 {
		delete(c.TypedExtensionProtocolOptions, key)
		return c
	}
	if b, err := anypb.New(opts); err == nil {
		c.TypedExtensionProtocolOptions[key] = b
	}
	return c
}

// endpointExtras renders what else an endpoint sets (health check
// config, additional addresses), so nothing is dropped unseen.
func endpointExtras(lb *endpointv3.LbEndpoint) string {
	e := lb.GetEndpoint()
	if e.GetHealthCheckConfig() == nil && len(e.GetAdditionalAddresses()) == 0 {
		return ""
	}
	var extra []string
	if e.GetHealthCheckConfig() != nil {
		extra = append(extra, "health_check="+text(e.GetHealthCheckConfig()))
	}
	for _, a := range e.GetAdditionalAddresses() {
		extra = append(extra, "also="+address(a.GetAddress()))
	}
	return fmt.Sprint(extra)
}
