package bootstrap

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

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
	// CertificateProviders name the sources of the workload's certificate
	// and trust bundle that the TLS settings pilotlight sends refer to.
	// Without any, xDS credentials fall back to plaintext.
	CertificateProviders map[string]grpcCertificateProvider `json:"certificate_providers"`
}

type grpcCertificateProvider struct {
	PluginName string              `json:"plugin_name"`
	Config     grpcFileWatcherConf `json:"config"`
}

// grpcFileWatcherConf configures gRPC's file_watcher plugin, which reads
// a certificate, its key and the trust bundle from files and reads them
// again every refresh interval.
type grpcFileWatcherConf struct {
	CertificateFile   string `json:"certificate_file"`
	PrivateKeyFile    string `json:"private_key_file"`
	CACertificateFile string `json:"ca_certificate_file"`
	// RefreshInterval is a google.protobuf.Duration in its JSON form.
	RefreshInterval json.RawMessage `json:"refresh_interval"`
}

// CertificateFiles locates a workload's certificate files for gRPC's
// xDS credentials: a directory as istio-agent writes it (OUTPUT_CERTS),
// with cert-chain.pem, key.pem and root-cert.pem.
type CertificateFiles struct {
	// Dir is the directory, an absolute path; empty means no
	// certificate, and plaintext.
	Dir string
	// Refresh is how often gRPC reads the files again. A renewed
	// certificate is used by connections opened after the next read, so
	// it bounds how long a client keeps presenting the old one.
	Refresh time.Duration
}

// Certificate files in CertificateFiles.Dir, named as istio-agent names
// them.
const (
	CertChainFile = "cert-chain.pem"
	KeyFile       = "key.pem"
	RootCertFile  = "root-cert.pem"
)

// CertificateProvider is the name of the certificate provider instance
// that the bootstrap defines and pilotlight's proxyless TLS settings
// refer to, for both the workload certificate and the trust bundle, as
// istio-agent's bootstrap and istiod's config name it.
const CertificateProvider = "default"

// providers returns the bootstrap's certificate providers for f.
func (f CertificateFiles) providers() (map[string]grpcCertificateProvider, error) {
	if f.Dir == "" {
		if f.Refresh != 0 {
			return nil, errors.New("a certificate refresh interval needs a certificate directory")
		}
		return map[string]grpcCertificateProvider{}, nil
	}
	if !filepath.IsAbs(f.Dir) {
		return nil, fmt.Errorf("certificate directory %q: want an absolute path (gRPC reads it from wherever the application runs)", f.Dir)
	}
	if f.Refresh <= 0 {
		return nil, fmt.Errorf("certificate refresh interval %s: want a positive duration", f.Refresh)
	}
	// A Duration's JSON form: seconds, with a fraction if needed, and "s".
	refresh := strconv.AppendQuote(nil, strconv.FormatFloat(f.Refresh.Seconds(), 'f', -1, 64)+"s")
	return map[string]grpcCertificateProvider{CertificateProvider: {
		PluginName: "file_watcher",
		Config: grpcFileWatcherConf{
			CertificateFile:   filepath.Join(f.Dir, CertChainFile),
			PrivateKeyFile:    filepath.Join(f.Dir, KeyFile),
			CACertificateFile: filepath.Join(f.Dir, RootCertFile),
			RefreshInterval:   refresh,
		},
	}}, nil
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
// connects to pilotlight at target (any gRPC target, e.g. HOST:PORT),
// without certificates: its connections are plaintext. The node is marked
// proxyless whatever n.Proxyless says.
func GRPC(n Node, target string) ([]byte, error) {
	return GRPCWithCertificates(n, target, CertificateFiles{})
}

// GRPCWithCertificates is GRPC for a workload whose certificate files are
// in certs.Dir: its connections are mutual TLS where pilotlight's config
// says so.
func GRPCWithCertificates(n Node, target string, certs CertificateFiles) ([]byte, error) {
	n.Proxyless = true
	node, err := n.Proto()
	if err != nil {
		return nil, err
	}
	providers, err := certs.providers()
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
		CertificateProviders:               providers,
	}
	out, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}
