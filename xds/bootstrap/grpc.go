package bootstrap

import (
	"encoding/json"

	"github.com/pilotlight/pilotlight/translate/resource"
)

// grpcBootstrapFile is the JSON gRPC's xDS clients read from
// GRPC_XDS_BOOTSTRAP (gRFC A27, A36 for servers). Fields are spelled out,
// not built from protos, because the format is gRPC's own, not Envoy's.
type grpcBootstrapFile struct {
	XDSServers []grpcXDSServer `json:"xds_servers"`
	Node       grpcNode        `json:"node"`
	// ServerListenerResourceNameTemplate names the listener an xDS-enabled
	// gRPC server asks for, with %s replaced by its IP:PORT; pilotlight
	// answers to Istio's names.
	ServerListenerResourceNameTemplate string `json:"server_listener_resource_name_template"`
	// CertificateProviders is present and empty until pilotlight's CA can
	// hand out certificates; gRPC clients then use plaintext.
	CertificateProviders map[string]any `json:"certificate_providers"`
}

type grpcXDSServer struct {
	ServerURI      string            `json:"server_uri"`
	ChannelCreds   []grpcChannelCred `json:"channel_creds"`
	ServerFeatures []string          `json:"server_features"`
}

type grpcChannelCred struct {
	Type string `json:"type"`
}

type grpcNode struct {
	ID       string         `json:"id"`
	Cluster  string         `json:"cluster"`
	Metadata map[string]any `json:"metadata"`
	Locality grpcLocality   `json:"locality"`
}

// grpcLocality has no omitempty on purpose: @grpc/grpc-js-xds 1.14 rejects
// a bootstrap whose node has no locality, even an empty one.
type grpcLocality struct {
	Region string `json:"region"`
	Zone   string `json:"zone"`
}

// GRPC writes the gRPC xDS bootstrap (JSON) for a client or server that
// connects to pilotlight at target (any gRPC target, e.g. HOST:PORT). The
// node is marked proxyless whatever n.Proxyless says.
func GRPC(n Node, target string) ([]byte, error) {
	n.Proxyless = true
	node, err := n.Proto()
	if err != nil {
		return nil, err
	}
	md := node.GetMetadata().AsMap()
	b := grpcBootstrapFile{
		XDSServers: []grpcXDSServer{{
			ServerURI:    target,
			ChannelCreds: []grpcChannelCred{{Type: "insecure"}},
			// xds_v3 is what tells older clients to speak v3; every
			// supported client understands it.
			ServerFeatures: []string{"xds_v3"},
		}},
		Node: grpcNode{
			ID:       node.GetId(),
			Cluster:  node.GetCluster(),
			Metadata: md,
			Locality: grpcLocality{Region: n.Region, Zone: n.Zone},
		},
		ServerListenerResourceNameTemplate: resource.GRPCInboundListenerPrefix + "%s",
		CertificateProviders:               map[string]any{},
	}
	out, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}
