package bootstrap

import (
	"fmt"
	"net/netip"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"sigs.k8s.io/yaml"

	"github.com/pilotlight/pilotlight/translate/resource"
)

const (
	// xdsClusterName is the static cluster that points at pilotlight; the
	// name is istio-agent's, so dashboards built for Istio keep working.
	xdsClusterName = "xds-grpc"
	// envoyAdminPort is Istio's proxy admin port, bound to loopback only:
	// the admin API can change Envoy's state and must not face the network.
	envoyAdminPort = 15000
	// httpProtocolOptionsKey is the extension name Envoy reads a cluster's
	// upstream HTTP settings from.
	httpProtocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
)

// Envoy builds an Envoy v3 bootstrap: one static cluster for pilotlight
// at xdsAddr and everything else (listeners, clusters, and through them
// routes and endpoints) over ADS, delta xDS unless delta is false.
func Envoy(n Node, xdsAddr string, delta bool) (*bootstrapv3.Bootstrap, error) {
	node, err := n.Proto()
	if err != nil {
		return nil, err
	}
	host, port, err := SplitAddress(xdsAddr)
	if err != nil {
		return nil, err
	}
	apiType := corev3.ApiConfigSource_DELTA_GRPC
	if !delta {
		apiType = corev3.ApiConfigSource_GRPC
	}
	b := &bootstrapv3.Bootstrap{
		Node: node,
		StaticResources: &bootstrapv3.Bootstrap_StaticResources{
			Clusters: []*clusterv3.Cluster{xdsCluster(host, port)},
		},
		DynamicResources: &bootstrapv3.Bootstrap_DynamicResources{
			AdsConfig: &corev3.ApiConfigSource{
				ApiType:             apiType,
				TransportApiVersion: corev3.ApiVersion_V3,
				GrpcServices: []*corev3.GrpcService{{
					TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{
						EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: xdsClusterName},
					},
				}},
				// The node is large (labels, metadata) and never changes
				// within a stream; sending it once saves every request.
				SetNodeOnFirstMessageOnly: true,
			},
			LdsConfig: resource.ADS(),
			CdsConfig: resource.ADS(),
		},
		Admin: &bootstrapv3.Admin{
			Address: socketAddress("127.0.0.1", envoyAdminPort),
		},
	}
	if err := b.ValidateAll(); err != nil {
		return nil, fmt.Errorf("envoy bootstrap: %w", err)
	}
	return b, nil
}

// EnvoyYAML is Envoy's bootstrap as the YAML file Envoy reads with -c.
func EnvoyYAML(n Node, xdsAddr string, delta bool) ([]byte, error) {
	b, err := Envoy(n, xdsAddr, delta)
	if err != nil {
		return nil, err
	}
	js, err := protojson.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("envoy bootstrap: %w", err)
	}
	return yaml.JSONToYAML(js)
}

// xdsCluster is the static cluster Envoy reaches pilotlight through. An IP
// address needs no DNS (STATIC); a name is re-resolved (STRICT_DNS) so a
// Service or replica change is picked up without restarting Envoy.
func xdsCluster(host string, port uint32) *clusterv3.Cluster {
	discovery := clusterv3.Cluster_STRICT_DNS
	if _, err := netip.ParseAddr(host); err == nil {
		discovery = clusterv3.Cluster_STATIC
	}
	return &clusterv3.Cluster{
		Name:                 xdsClusterName,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: discovery},
		ConnectTimeout:       durationpb.New(time.Second),
		LoadAssignment: &endpointv3.ClusterLoadAssignment{
			ClusterName: xdsClusterName,
			Endpoints: []*endpointv3.LocalityLbEndpoints{{
				LbEndpoints: []*endpointv3.LbEndpoint{{
					HostIdentifier: &endpointv3.LbEndpoint_Endpoint{
						Endpoint: &endpointv3.Endpoint{Address: socketAddress(host, port)},
					},
				}},
			}},
		},
		TypedExtensionProtocolOptions: map[string]*anypb.Any{
			httpProtocolOptionsKey: resource.Any(xdsProtocolOptions()),
		},
	}
}

// xdsProtocolOptions makes the xDS connection HTTP/2 (gRPC needs it) with
// keepalive pings, so a control plane that vanished without closing the
// connection is noticed in seconds rather than at the next TCP timeout.
func xdsProtocolOptions() *httpv3.HttpProtocolOptions {
	return &httpv3.HttpProtocolOptions{
		UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{
			ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{
					Http2ProtocolOptions: &corev3.Http2ProtocolOptions{
						ConnectionKeepalive: &corev3.KeepaliveSettings{
							Interval: durationpb.New(30 * time.Second),
							Timeout:  durationpb.New(10 * time.Second),
						},
					},
				},
			},
		},
	}
}

func socketAddress(host string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{
		SocketAddress: &corev3.SocketAddress{
			Address:       host,
			PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
		},
	}}
}
