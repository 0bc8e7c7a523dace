package bootstrap

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	grpccredentialv3 "github.com/envoyproxy/go-control-plane/envoy/config/grpc_credential/v3"
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
	// fileBasedMetadata is Envoy's gRPC call credentials plugin that
	// reads a header's value from a file.
	fileBasedMetadata = "envoy.grpc_credentials.file_based_metadata"
)

// XDS says how Envoy reaches pilotlight.
type XDS struct {
	// Addr is pilotlight's address, HOST:PORT.
	Addr string
	// Delta selects delta xDS; otherwise state of the world.
	Delta bool
	// TokenFile and RootCertFile, set together, make Envoy connect to
	// pilotlight's TLS port (15012) and prove its identity there:
	// RootCertFile holds the mesh's root (ConfigMap istio-ca-root-cert,
	// key root-cert.pem) to verify pilotlight's certificate, whose names
	// must include Addr's host; TokenFile holds a Kubernetes service
	// account token for audience istio-ca (a projected volume keeps it
	// fresh), sent on every stream as "authorization: Bearer TOKEN".
	TokenFile, RootCertFile string
}

// Envoy builds an Envoy v3 bootstrap: everything (listeners, clusters,
// and through them routes and endpoints) over ADS. In plaintext, ADS
// goes over Envoy's own gRPC client through one static cluster for
// pilotlight; over TLS with a token, it goes over Google gRPC (see
// authenticatedADS).
func Envoy(n Node, x XDS) (*bootstrapv3.Bootstrap, error) {
	node, err := n.Proto()
	if err != nil {
		return nil, err
	}
	host, port, err := SplitAddress(x.Addr)
	if err != nil {
		return nil, err
	}
	if (x.TokenFile == "") != (x.RootCertFile == "") {
		return nil, errors.New("a token file and a root certificate file go together: a token is sent only over TLS, and TLS to pilotlight's port is authenticated by the token")
	}
	if n.WorkloadSDS && x.TokenFile == "" {
		return nil, errors.New("workload secrets are served only to a stream that proved its identity: name a token file and a root certificate file")
	}
	apiType := corev3.ApiConfigSource_DELTA_GRPC
	if !x.Delta {
		apiType = corev3.ApiConfigSource_GRPC
	}
	ads := &corev3.ApiConfigSource{
		ApiType:             apiType,
		TransportApiVersion: corev3.ApiVersion_V3,
		// The node is large (labels, metadata) and never changes within
		// a stream; sending it once saves every request.
		SetNodeOnFirstMessageOnly: true,
	}
	b := &bootstrapv3.Bootstrap{
		Node: node,
		DynamicResources: &bootstrapv3.Bootstrap_DynamicResources{
			AdsConfig: ads,
			LdsConfig: resource.ADS(),
			CdsConfig: resource.ADS(),
		},
		Admin: &bootstrapv3.Admin{
			Address: socketAddress("127.0.0.1", envoyAdminPort),
		},
	}
	if x.TokenFile != "" {
		ads.GrpcServices = []*corev3.GrpcService{authenticatedADS(x)}
	} else {
		ads.GrpcServices = []*corev3.GrpcService{{
			TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{
				EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: xdsClusterName},
			},
		}}
		b.StaticResources = &bootstrapv3.Bootstrap_StaticResources{
			Clusters: []*clusterv3.Cluster{xdsCluster(host, port)},
		}
	}
	if err := b.ValidateAll(); err != nil {
		return nil, fmt.Errorf("envoy bootstrap: %w", err)
	}
	return b, nil
}

// authenticatedADS is the gRPC service of ADS on pilotlight's TLS port.
// Envoy's own gRPC client (envoy_grpc) can only add fixed metadata
// (GrpcService.initial_metadata), and a service account token expires,
// so the stream goes over Google gRPC, whose call credentials can read
// the token from a file on every call: GoogleGrpc.call_credentials
// from_plugin "envoy.grpc_credentials.file_based_metadata" with a
// FileBasedMetadataConfig (secret_data: the file; header_key defaults to
// "authorization"; header_prefix "Bearer "), with
// credentials_factory_name naming the same plugin so that its factory
// builds the channel (Envoy API: envoy/config/core/v3/grpc_service.proto
// and envoy/config/grpc_credential/v3/file_based_metadata.proto). The
// channel is TLS, verified with the mesh root from RootCertFile
// (GoogleGrpc.channel_credentials.ssl_credentials.root_certs).
func authenticatedADS(x XDS) *corev3.GrpcService {
	return &corev3.GrpcService{TargetSpecifier: &corev3.GrpcService_GoogleGrpc_{GoogleGrpc: &corev3.GrpcService_GoogleGrpc{
		TargetUri:  x.Addr,
		StatPrefix: xdsClusterName,
		ChannelCredentials: &corev3.GrpcService_GoogleGrpc_ChannelCredentials{
			CredentialSpecifier: &corev3.GrpcService_GoogleGrpc_ChannelCredentials_SslCredentials{
				SslCredentials: &corev3.GrpcService_GoogleGrpc_SslCredentials{RootCerts: fileData(x.RootCertFile)},
			},
		},
		CallCredentials: []*corev3.GrpcService_GoogleGrpc_CallCredentials{{
			CredentialSpecifier: &corev3.GrpcService_GoogleGrpc_CallCredentials_FromPlugin{
				FromPlugin: &corev3.GrpcService_GoogleGrpc_CallCredentials_MetadataCredentialsFromPlugin{
					Name: fileBasedMetadata,
					ConfigType: &corev3.GrpcService_GoogleGrpc_CallCredentials_MetadataCredentialsFromPlugin_TypedConfig{
						TypedConfig: resource.Any(&grpccredentialv3.FileBasedMetadataConfig{
							SecretData:   fileData(x.TokenFile),
							HeaderPrefix: "Bearer ",
						}),
					},
				},
			},
		}},
		CredentialsFactoryName: fileBasedMetadata,
	}}}
}

func fileData(path string) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: path}}
}

// EnvoyYAML is Envoy's bootstrap as the YAML file Envoy reads with -c.
func EnvoyYAML(n Node, x XDS) ([]byte, error) {
	b, err := Envoy(n, x)
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
