package networking

import (
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/wrapperspb"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/pilotlight/pilotlight/translate/resource"
)

// Secret names istio-agent's SDS server understands, as istiod names them
// in the config it sends sidecars: the system's trust store, files the
// workload mounted, and the workload's own identity and trust bundle.
const (
	sdsSystemRoots = "file-root:system"
	sdsFileRoot    = "file-root:"
	sdsFileCert    = "file-cert:"
	sdsWorkload    = "default"
	sdsRootCA      = "ROOTCA"
	// agentSDSCluster is the cluster istio-agent's bootstrap defines for
	// its SDS server.
	agentSDSCluster = "sds-grpc"
)

// applyTLS originates TLS on an Envoy cluster as a DestinationRule's tls
// settings say (DISABLE leaves plaintext). Secrets come from the
// sidecar's own istio-agent over SDS, named as istiod names them, so the
// keys never pass through the control plane.
func applyTLS(c *clusterv3.Cluster, t *networkingv1alpha3.ClientTLSSettings) {
	if t == nil || t.GetMode() == networkingv1alpha3.ClientTLSSettings_DISABLE {
		return
	}
	ctx := &tlsv3.UpstreamTlsContext{Sni: t.GetSni(), CommonTlsContext: &tlsv3.CommonTlsContext{
		// Envoy's client default stops at TLS 1.2; istiod allows 1.3.
		TlsParams: &tlsv3.TlsParameters{
			TlsMinimumProtocolVersion: tlsv3.TlsParameters_TLSv1_2,
			TlsMaximumProtocolVersion: tlsv3.TlsParameters_TLSv1_3,
		},
	}}
	common := ctx.CommonTlsContext
	validation := &tlsv3.CertificateValidationContext{}
	for _, san := range t.GetSubjectAltNames() {
		validation.MatchTypedSubjectAltNames = append(validation.MatchTypedSubjectAltNames, &tlsv3.SubjectAltNameMatcher{
			SanType: sanType(san),
			Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: san}},
		})
	}
	rootName := sdsSystemRoots
	if ca := t.GetCaCertificates(); ca != "" {
		rootName = sdsFileRoot + ca
	}
	switch t.GetMode() {
	case networkingv1alpha3.ClientTLSSettings_ISTIO_MUTUAL:
		rootName = sdsRootCA
		if ctx.Sni == "" {
			// Istio's mesh SNI names the cluster (outbound_.PORT_.SUBSET_.HOST),
			// which gateways in AUTO_PASSTHROUGH route on.
			ctx.Sni = strings.ReplaceAll(c.GetName(), "|", "_.")
		}
		common.TlsCertificateSdsSecretConfigs = []*tlsv3.SdsSecretConfig{agentSecret(sdsWorkload)}
		// Istio's peers tell mesh traffic apart by these protocols.
		common.AlpnProtocols = []string{"istio-peer-exchange", "istio"}
	case networkingv1alpha3.ClientTLSSettings_MUTUAL:
		if cert, key := t.GetClientCertificate(), t.GetPrivateKey(); cert != "" && key != "" {
			common.TlsCertificateSdsSecretConfigs = []*tlsv3.SdsSecretConfig{agentSecret(sdsFileCert + cert + "~" + key)}
		}
	}
	if t.GetInsecureSkipVerify().GetValue() {
		common.ValidationContextType = nil
	} else {
		common.ValidationContextType = &tlsv3.CommonTlsContext_CombinedValidationContext{
			CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
				DefaultValidationContext:         validation,
				ValidationContextSdsSecretConfig: agentSecret(rootName),
			},
		}
	}
	c.TransportSocket = &corev3.TransportSocket{
		Name:       wellknown.TransportSocketTLS,
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: resource.Any(ctx)},
	}
}

// sanType: SPIFFE ids and other URIs are URI SANs, the rest DNS names.
func sanType(san string) tlsv3.SubjectAltNameMatcher_SanType {
	if strings.Contains(san, "://") {
		return tlsv3.SubjectAltNameMatcher_URI
	}
	return tlsv3.SubjectAltNameMatcher_DNS
}

// agentSecret is a secret served by istio-agent's SDS server.
func agentSecret(name string) *tlsv3.SdsSecretConfig {
	return &tlsv3.SdsSecretConfig{
		Name: name,
		SdsConfig: &corev3.ConfigSource{
			ResourceApiVersion: corev3.ApiVersion_V3,
			ConfigSourceSpecifier: &corev3.ConfigSource_ApiConfigSource{ApiConfigSource: &corev3.ApiConfigSource{
				ApiType:                   corev3.ApiConfigSource_GRPC,
				TransportApiVersion:       corev3.ApiVersion_V3,
				SetNodeOnFirstMessageOnly: true,
				GrpcServices: []*corev3.GrpcService{{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{
					EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: agentSDSCluster},
				}}},
			}},
		},
	}
}

// Certificate provider names proxyless gRPC reads its identity from:
// pilot-agent's gRPC bootstrap defines one file_watcher provider instance,
// "default", serving the workload certificate and key and the root bundle
// it writes to disk. The certificate names are opaque to file_watcher;
// they are istiod's, so a provider that does read them sees the same
// names as the SDS secrets of Envoy.
const grpcProviderInstance = "default"

// GRPCServerTransportSocket is the transport socket of a proxyless
// server's filter chain that enforces Istio mTLS: it presents the
// workload certificate and requires a client certificate signed by the
// mesh root. gRPC servers cannot match client SANs (gRFC A29), so any
// workload of the mesh is accepted, as with istiod.
func GRPCServerTransportSocket() *corev3.TransportSocket {
	ctx := &tlsv3.DownstreamTlsContext{
		CommonTlsContext:         grpcCommonTLS(nil),
		RequireClientCertificate: wrapperspb.Bool(true),
	}
	return &corev3.TransportSocket{
		Name:       wellknown.TransportSocketTLS,
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: resource.Any(ctx)},
	}
}

// grpcCommonTLS names the certificate provider for the identity and the
// roots, in the fields of gRFC A29 and, for gRPC releases that predate
// them, in the deprecated ones; gRPC reads the former when present. gRPC
// rejects what it does not implement (tls_params, SDS, typed SAN
// matchers), so the context carries nothing else; SANs go in
// match_subject_alt_names, the only SAN field gRPC reads.
func grpcCommonTLS(sans []string) *tlsv3.CommonTlsContext {
	validation := &tlsv3.CertificateValidationContext{
		CaCertificateProviderInstance: &tlsv3.CertificateProviderPluginInstance{InstanceName: grpcProviderInstance, CertificateName: sdsRootCA},
	}
	for _, san := range sans {
		validation.MatchSubjectAltNames = append(validation.MatchSubjectAltNames, //nolint:staticcheck // gRPC reads no other SAN field.
			&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: san}})
	}
	return &tlsv3.CommonTlsContext{
		TlsCertificateProviderInstance: &tlsv3.CertificateProviderPluginInstance{InstanceName: grpcProviderInstance, CertificateName: sdsWorkload},
		TlsCertificateCertificateProviderInstance: &tlsv3.CommonTlsContext_CertificateProviderInstance{ //nolint:staticcheck // for gRPC releases without gRFC A29's fields.
			InstanceName: grpcProviderInstance, CertificateName: sdsWorkload,
		},
		ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{
			CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
				DefaultValidationContext: validation,
				ValidationContextCertificateProviderInstance: &tlsv3.CommonTlsContext_CertificateProviderInstance{ //nolint:staticcheck // for gRPC releases without gRFC A29's fields.
					InstanceName: grpcProviderInstance, CertificateName: sdsRootCA,
				},
			},
		},
	}
}

// inboundCiphers are the cipher suites an Envoy sidecar accepts for Istio
// mTLS (TLS 1.2; TLS 1.3 suites are not configurable), istiod's default
// when the mesh's meshMTLS names none.
var inboundCiphers = []string{
	"ECDHE-ECDSA-AES256-GCM-SHA384",
	"ECDHE-RSA-AES256-GCM-SHA384",
	"ECDHE-ECDSA-AES128-GCM-SHA256",
	"ECDHE-RSA-AES128-GCM-SHA256",
	"AES256-GCM-SHA384",
	"AES128-GCM-SHA256",
}

// InboundMTLSTransportSocket terminates Istio mTLS on an Envoy sidecar's
// inbound filter chain: it presents the workload certificate, requires a
// client certificate signed by the mesh root (both from istio-agent over
// SDS) and, when the mesh has trust domain aliases, one from the mesh's
// trust domains. HTTP chains offer h2 and http/1.1; TCP chains also
// istio-peer-exchange, which Istio peers use for metadata exchange.
func InboundMTLSTransportSocket(mesh *meshv1alpha1.MeshConfig, http bool) *corev3.TransportSocket {
	alpn := []string{"h2", "http/1.1"}
	if !http {
		alpn = append([]string{"istio-peer-exchange"}, alpn...)
	}
	ciphers := inboundCiphers
	if cs := mesh.GetMeshMTLS().GetCipherSuites(); len(cs) > 0 {
		ciphers = cs
	}
	minVersion := tlsv3.TlsParameters_TLSv1_2
	if mesh.GetMeshMTLS().GetMinProtocolVersion() == meshv1alpha1.MeshConfig_TLSConfig_TLSV1_3 {
		minVersion = tlsv3.TlsParameters_TLSv1_3
	}
	validation := &tlsv3.CertificateValidationContext{}
	if aliases := mesh.GetTrustDomainAliases(); len(aliases) > 0 {
		for _, td := range append([]string{mesh.GetTrustDomain()}, aliases...) {
			validation.MatchTypedSubjectAltNames = append(validation.MatchTypedSubjectAltNames, &tlsv3.SubjectAltNameMatcher{
				SanType: tlsv3.SubjectAltNameMatcher_URI,
				Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: "spiffe://" + td + "/"}},
			})
		}
	}
	ctx := &tlsv3.DownstreamTlsContext{
		CommonTlsContext: &tlsv3.CommonTlsContext{
			AlpnProtocols: alpn,
			TlsParams: &tlsv3.TlsParameters{
				CipherSuites:              ciphers,
				TlsMinimumProtocolVersion: minVersion,
				TlsMaximumProtocolVersion: tlsv3.TlsParameters_TLSv1_3,
			},
			TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{agentSecret(sdsWorkload)},
			ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{
				CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
					DefaultValidationContext:         validation,
					ValidationContextSdsSecretConfig: agentSecret(sdsRootCA),
				},
			},
		},
		RequireClientCertificate: wrapperspb.Bool(true),
	}
	return &corev3.TransportSocket{
		Name:       wellknown.TransportSocketTLS,
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: resource.Any(ctx)},
	}
}
