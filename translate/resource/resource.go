// Package resource holds what every generator shares: the Resource type,
// xDS type URLs, Istio's well-known resource names and small builders for
// the Envoy protos that recur (ADS config sources, typed configs). It has
// no knowledge of proxies or of the mesh model.
package resource

import (
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	rsrc "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// Type URLs of the resources pilotlight serves.
const (
	ListenerType = rsrc.ListenerType
	RouteType    = rsrc.RouteType
	ClusterType  = rsrc.ClusterType
	EndpointType = rsrc.EndpointType
	SecretType   = rsrc.SecretType
)

// Istio's well-known names, kept so that tools and dashboards built for
// istiod keep working.
const (
	PassthroughCluster        = "PassthroughCluster"
	InboundPassthroughCluster = "InboundPassthroughCluster"
	BlackHoleCluster          = "BlackHoleCluster"
	VirtualOutboundListener   = "virtualOutbound"
	VirtualInboundListener    = "virtualInbound"
	VirtualOutboundPort       = 15001
	VirtualInboundPort        = 15006
	// InboundPassthroughBindIP is the source address Envoy uses towards the
	// local application, so iptables does not loop the traffic back.
	InboundPassthroughBindIP = "127.0.0.6"
	// GRPCInboundListenerPrefix names proxyless server listeners:
	// PREFIX + "IP:PORT".
	GRPCInboundListenerPrefix = "xds.istio.io/grpc/lds/inbound/"
)

// MaxDirectResponseBodyBytes lets a VirtualService's directResponse carry
// up to 1 MiB, as istiod allows; Envoy's own limit is 4 KiB.
const MaxDirectResponseBodyBytes = 1 << 20

// Resource is one named Envoy resource.
type Resource struct {
	Name    string
	Message proto.Message
}

// OutboundClusterName is Istio's outbound|PORT|SUBSET|HOST.
func OutboundClusterName(port uint32, subset, host string) string {
	return fmt.Sprintf("outbound|%d|%s|%s", port, subset, host)
}

// InboundClusterName is Istio's inbound|PORT||.
func InboundClusterName(port uint32) string {
	return fmt.Sprintf("inbound|%d||", port)
}

// InboundVirtualHostName is Istio's inbound|http|PORT, the one virtual
// host of an inbound HTTP port's route table.
func InboundVirtualHostName(port uint32) string {
	return fmt.Sprintf("inbound|http|%d", port)
}

// File is a data source Envoy reads from a file of its own filesystem.
func File(path string) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: path}}
}

// ADS is a config source that points back at the ADS stream.
func ADS() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ResourceApiVersion:    corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
	}
}

// Any wraps a message. The messages generators build are always
// marshalable; failing here is a programming error.
func Any(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		panic(fmt.Sprintf("resource: marshal %T: %v", m, err))
	}
	return a
}

type validatorAll interface{ ValidateAll() error }

// Validate runs protoc-gen-validate's ValidateAll, which checks the
// constraints Envoy itself enforces on load.
func Validate(m proto.Message) error {
	v, ok := m.(validatorAll)
	if !ok {
		return fmt.Errorf("%T has no validation", m)
	}
	return v.ValidateAll()
}

// RouterFilter is the terminal HTTP filter of every connection manager.
func RouterFilter() *hcmv3.HttpFilter {
	return &hcmv3.HttpFilter{
		Name:       wellknown.Router,
		ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: Any(&routerv3.Router{})},
	}
}

// HCMFilter wraps a connection manager as a listener filter.
func HCMFilter(hcm *hcmv3.HttpConnectionManager) *listenerv3.Filter {
	return &listenerv3.Filter{
		Name:       wellknown.HTTPConnectionManager,
		ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: Any(hcm)},
	}
}

// Names of the HTTP filters routes configure per route.
const (
	FaultFilterName = "envoy.filters.http.fault"
	CORSFilterName  = "envoy.filters.http.cors"
)

// FaultFilter is the fault injection filter with no faults of its own:
// routes turn it on through their per-filter config.
func FaultFilter() *hcmv3.HttpFilter {
	return &hcmv3.HttpFilter{
		Name:       FaultFilterName,
		ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: Any(&faultv3.HTTPFault{})},
	}
}

// CORSFilter is the CORS filter; routes carry their CORS policies.
func CORSFilter() *hcmv3.HttpFilter {
	return &hcmv3.HttpFilter{
		Name:       CORSFilterName,
		ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: Any(&corsv3.Cors{})},
	}
}

// HTTPFilters is the filter chain of every outbound and gateway
// connection manager, in istiod's order: faults first (so an injected
// abort answers even CORS preflights, and carries no CORS headers), then
// CORS, then the router.
func HTTPFilters() []*hcmv3.HttpFilter {
	return []*hcmv3.HttpFilter{FaultFilter(), CORSFilter(), RouterFilter()}
}
