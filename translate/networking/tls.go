package networking

import (
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	rawbufferv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/raw_buffer/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/pilotlight/pilotlight/translate/eds"
	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/resource"
	"github.com/pilotlight/pilotlight/translate/security/mtls"
)

// Secret names istio-agent's SDS server understands, as istiod names them
// in the config it sends sidecars: the system's trust store, files the
// workload mounted, and the workload's own identity and trust bundle.
// pilotlight serves the last two over ADS too, to plain Envoys that
// opted in (model.MetaWorkloadSDS); the others only an agent serves.
const (
	sdsSystemRoots = "file-root:system"
	sdsFileRoot    = "file-root:"
	sdsFileCert    = "file-cert:"
	// WorkloadCertSecret is the workload's certificate and key.
	WorkloadCertSecret = "default"
	// RootCASecret is the workload's trust bundle.
	RootCASecret = "ROOTCA"
	// agentSDSCluster is the cluster istio-agent's bootstrap defines for
	// its SDS server.
	agentSDSCluster = "sds-grpc"
)

// ApplyUpstreamTLS sets how a cluster of service svc (port port)
// originates TLS, as istiod decides. A DestinationRule's tls settings
// win; ISTIO_MUTUAL accepts the service's identities
// (Snapshot.ServiceIdentities) unless it names SANs itself. Without tls
// settings, Istio's automatic mTLS applies when the mesh enables it, the
// service is in the mesh and its namespace's PeerAuthentication does not
// DISABLE mTLS: an Envoy cluster takes Istio mTLS to endpoints labelled
// tlsMode=istio and plaintext to the others (transport_socket_matches on
// the endpoint metadata eds writes); an original-destination cluster of a
// passthrough service, whose endpoints Envoy does not know, only when
// every endpoint of the port is labelled. gRPC clients reject transport_socket_matches and may
// lack certificates; as with istiod they take TLS from a DestinationRule
// only, set on the cluster itself. ads says an Envoy fetches its secrets
// over ADS (model.OutboundView.WorkloadSDS); see SDSSecret.
func ApplyUpstreamTLS(c *clusterv3.Cluster, snap *model.Snapshot, peers *mtls.Policies, svc *model.Service, port model.Port, t *networkingv1alpha3.ClientTLSSettings, target Target, ads bool) {
	if target == GRPC {
		if t.GetMode() == networkingv1alpha3.ClientTLSSettings_ISTIO_MUTUAL {
			sans := t.GetSubjectAltNames()
			if len(sans) == 0 {
				sans = snap.ServiceIdentities(svc.Hostname)
			}
			c.TransportSocket = grpcClientTransportSocket(sans)
		}
		return
	}
	if t != nil {
		if ctx := upstreamTLSContext(c, t, snap.ServiceIdentities(svc.Hostname), ads); ctx != nil {
			c.TransportSocket = tlsSocket(ctx)
		}
		return
	}
	if !autoMTLS(snap, peers, svc) {
		return
	}
	istio := tlsSocket(upstreamTLSContext(c, &networkingv1alpha3.ClientTLSSettings{Mode: networkingv1alpha3.ClientTLSSettings_ISTIO_MUTUAL},
		snap.ServiceIdentities(svc.Hostname), ads))
	if c.GetType() == clusterv3.Cluster_ORIGINAL_DST {
		// Only a passthrough service's clusters are rebuilt when its
		// endpoints change (the xDS cache's invalidationFor); a
		// load-balanced one a DestinationRule turns into passthrough
		// stays plaintext rather than depend on labels it would not see
		// change.
		if svc.Resolution == model.Passthrough && allSpeakMTLS(snap.EndpointsForPort(svc.Hostname, port.Name)) {
			c.TransportSocket = istio
		}
		return
	}
	c.TransportSocketMatches = []*clusterv3.Cluster_TransportSocketMatch{
		{
			Name: "tlsMode-" + mtls.TLSModeIstio,
			Match: &structpb.Struct{Fields: map[string]*structpb.Value{
				eds.TLSModeMetadataKey: structpb.NewStringValue(mtls.TLSModeIstio),
			}},
			TransportSocket: istio,
		},
		{
			// Every other endpoint, labelled or not.
			Name:  "tlsMode-disabled",
			Match: &structpb.Struct{},
			TransportSocket: &corev3.TransportSocket{
				Name:       wellknown.TransportSocketRawBuffer,
				ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: resource.Any(&rawbufferv3.RawBuffer{})},
			},
		},
	}
}

// autoMTLS reports whether clients use Istio's automatic mTLS towards
// svc. The mesh setting defaults to on, as in istiod.
func autoMTLS(snap *model.Snapshot, peers *mtls.Policies, svc *model.Service) bool {
	if on := snap.Mesh().GetEnableAutoMtls(); on != nil && !on.GetValue() {
		return false
	}
	return !svc.MeshExternal && peers.NamespaceMode(svc.Namespace) != mtls.Disable
}

// allSpeakMTLS reports whether there are endpoints and every one of
// them is labelled for Istio mTLS.
func allSpeakMTLS(eps []*model.Endpoint) bool {
	for _, e := range eps {
		if !mtls.SpeaksMTLS(e.Labels) {
			return false
		}
	}
	return len(eps) > 0
}

func tlsSocket(ctx *tlsv3.UpstreamTlsContext) *corev3.TransportSocket {
	return &corev3.TransportSocket{
		Name:       wellknown.TransportSocketTLS,
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: resource.Any(ctx)},
	}
}

// upstreamTLSContext is an Envoy cluster's TLS as tls settings say; nil
// for DISABLE. Secrets are named as istiod names them and come from the
// sidecar's own istio-agent over SDS, so the keys never pass through the
// control plane, or over ADS for a plain Envoy (ads; see SDSSecret).
// ISTIO_MUTUAL accepts identities when the settings name no SANs.
func upstreamTLSContext(c *clusterv3.Cluster, t *networkingv1alpha3.ClientTLSSettings, identities []string, ads bool) *tlsv3.UpstreamTlsContext {
	if t.GetMode() == networkingv1alpha3.ClientTLSSettings_DISABLE {
		return nil
	}
	ctx := &tlsv3.UpstreamTlsContext{Sni: t.GetSni(), CommonTlsContext: &tlsv3.CommonTlsContext{
		// Envoy's client default stops at TLS 1.2; istiod allows 1.3.
		TlsParams: &tlsv3.TlsParameters{
			TlsMinimumProtocolVersion: tlsv3.TlsParameters_TLSv1_2,
			TlsMaximumProtocolVersion: tlsv3.TlsParameters_TLSv1_3,
		},
	}}
	common := ctx.CommonTlsContext
	sans := t.GetSubjectAltNames()
	if len(sans) == 0 && t.GetMode() == networkingv1alpha3.ClientTLSSettings_ISTIO_MUTUAL {
		sans = identities
	}
	validation := &tlsv3.CertificateValidationContext{MatchSubjectAltNames: exactMatchers(sans)} //nolint:staticcheck // istiod's form; see exactMatchers.
	rootName := sdsSystemRoots
	if ca := t.GetCaCertificates(); ca != "" {
		rootName = sdsFileRoot + ca
	}
	// No agent serves a plain Envoy (ads) the files the workload
	// mounted: Envoy reads them itself, once (they are not watched for
	// rotation). The system trust store has no file to name; see SDSSecret.
	rootFile := ""
	if ads && t.GetMode() != networkingv1alpha3.ClientTLSSettings_ISTIO_MUTUAL {
		rootFile = t.GetCaCertificates()
	}
	switch t.GetMode() {
	case networkingv1alpha3.ClientTLSSettings_ISTIO_MUTUAL:
		rootName = RootCASecret
		if ctx.Sni == "" {
			// Istio's mesh SNI names the cluster (outbound_.PORT_.SUBSET_.HOST),
			// which gateways in AUTO_PASSTHROUGH route on.
			ctx.Sni = strings.ReplaceAll(c.GetName(), "|", "_.")
		}
		common.TlsCertificateSdsSecretConfigs = []*tlsv3.SdsSecretConfig{SDSSecret(WorkloadCertSecret, ads)}
		// Istio's peers tell mesh traffic apart by these protocols; an
		// HTTP/2 cluster says h2 too.
		common.AlpnProtocols = []string{"istio-peer-exchange", "istio"}
		if isHTTP2(c) {
			common.AlpnProtocols = append(common.AlpnProtocols, "h2")
		}
	case networkingv1alpha3.ClientTLSSettings_MUTUAL:
		cert, key := t.GetClientCertificate(), t.GetPrivateKey()
		switch {
		case cert == "" || key == "":
			// No client certificate to present.
		case ads:
			common.TlsCertificates = []*tlsv3.TlsCertificate{{CertificateChain: resource.File(cert), PrivateKey: resource.File(key)}}
		default:
			common.TlsCertificateSdsSecretConfigs = []*tlsv3.SdsSecretConfig{SDSSecret(sdsFileCert+cert+"~"+key, false)}
		}
	}
	switch {
	case t.GetInsecureSkipVerify().GetValue():
	case rootFile != "":
		validation.TrustedCa = resource.File(rootFile)
		common.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: validation}
	default:
		common.ValidationContextType = &tlsv3.CommonTlsContext_CombinedValidationContext{
			CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
				DefaultValidationContext:         validation,
				ValidationContextSdsSecretConfig: SDSSecret(rootName, ads),
			},
		}
	}
	return ctx
}

// isHTTP2 reports whether the cluster speaks HTTP/2 upstream.
func isHTTP2(c *clusterv3.Cluster) bool {
	a := c.GetTypedExtensionProtocolOptions()[httpProtocolOptionsKey]
	if a == nil {
		return false
	}
	opts := &httpv3.HttpProtocolOptions{}
	return a.UnmarshalTo(opts) == nil && opts.GetExplicitHttpConfig().GetHttp2ProtocolOptions() != nil
}

// exactMatchers match SANs exactly, in match_subject_alt_names, which
// Envoy checks against every SAN type. istiod writes SANs there; the
// typed field would say the same for SPIFFE ids and DNS names, but a
// parity comparison with istiod's config reads field by field.
func exactMatchers(sans []string) []*matcherv3.StringMatcher {
	var out []*matcherv3.StringMatcher
	for _, san := range sans {
		out = append(out, &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: san}})
	}
	return out
}

// SDSSecret names a secret an Envoy's TLS reads, as istio-agent names
// it: one the sidecar's own istio-agent serves through the sds-grpc
// cluster of the agent's bootstrap, or, when ads, one fetched over the
// ADS stream by a plain Envoy that opted in (model.MetaWorkloadSDS),
// which has no such cluster. pilotlight serves such a node its workload
// certificate and trust bundle; the files a DestinationRule names that
// node reads itself (upstreamTLSContext), but the system trust store
// (file-root:system) only an agent resolves to a file, so that node's
// TLS verifying servers by it fails closed (analyze reports it, PL0203).
// Envoy waits for the
// workload's own certificate and trust bundle however long they take (no
// initial fetch timeout), as istiod configures it: a listener or cluster
// that gave up after Envoy's default 15 s would come up without them and
// fail every handshake.
func SDSSecret(name string, ads bool) *tlsv3.SdsSecretConfig {
	sc := &tlsv3.SdsSecretConfig{Name: name, SdsConfig: resource.ADS()}
	if !ads {
		sc.SdsConfig.ConfigSourceSpecifier = &corev3.ConfigSource_ApiConfigSource{ApiConfigSource: &corev3.ApiConfigSource{
			ApiType:                   corev3.ApiConfigSource_GRPC,
			TransportApiVersion:       corev3.ApiVersion_V3,
			SetNodeOnFirstMessageOnly: true,
			GrpcServices: []*corev3.GrpcService{{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{
				EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: agentSDSCluster},
			}}},
		}}
	}
	if name == WorkloadCertSecret || name == RootCASecret {
		sc.SdsConfig.InitialFetchTimeout = durationpb.New(0)
	}
	return sc
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

// grpcClientTransportSocket originates Istio mTLS from a proxyless
// client, accepting only servers whose certificate carries one of sans
// (any mesh workload when empty).
func grpcClientTransportSocket(sans []string) *corev3.TransportSocket {
	ctx := &tlsv3.UpstreamTlsContext{CommonTlsContext: grpcCommonTLS(sans)}
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
		CaCertificateProviderInstance: &tlsv3.CertificateProviderPluginInstance{InstanceName: grpcProviderInstance, CertificateName: RootCASecret},
	}
	validation.MatchSubjectAltNames = exactMatchers(sans) //nolint:staticcheck // gRPC reads no other SAN field.
	return &tlsv3.CommonTlsContext{
		TlsCertificateProviderInstance: &tlsv3.CertificateProviderPluginInstance{InstanceName: grpcProviderInstance, CertificateName: WorkloadCertSecret},
		TlsCertificateCertificateProviderInstance: &tlsv3.CommonTlsContext_CertificateProviderInstance{ //nolint:staticcheck // for gRPC releases without gRFC A29's fields.
			InstanceName: grpcProviderInstance, CertificateName: WorkloadCertSecret,
		},
		ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{
			CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
				DefaultValidationContext: validation,
				ValidationContextCertificateProviderInstance: &tlsv3.CommonTlsContext_CertificateProviderInstance{ //nolint:staticcheck // for gRPC releases without gRFC A29's fields.
					InstanceName: grpcProviderInstance, CertificateName: RootCASecret,
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
// istio-peer-exchange, which Istio peers use for metadata exchange. ads
// says Envoy fetches the secrets over ADS (see SDSSecret).
func InboundMTLSTransportSocket(mesh *meshv1alpha1.MeshConfig, http, ads bool) *corev3.TransportSocket {
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
			validation.MatchSubjectAltNames = append(validation.MatchSubjectAltNames, //nolint:staticcheck // istiod's form; see exactMatchers.
				&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: "spiffe://" + td + "/"}})
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
			TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{SDSSecret(WorkloadCertSecret, ads)},
			ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{
				CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
					DefaultValidationContext:         validation,
					ValidationContextSdsSecretConfig: SDSSecret(RootCASecret, ads),
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
