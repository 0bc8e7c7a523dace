package gateway

import (
	"net/netip"
	"slices"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/wrapperspb"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/pilotlight/pilotlight/translate/networking"
	"github.com/pilotlight/pilotlight/translate/resource"
)

// Names of secrets, as istio-agent and istiod spell them.
const (
	// KubernetesSecretPrefix starts the SDS name of a credentialName
	// secret, served over ADS from a Kubernetes Secret.
	KubernetesSecretPrefix = "kubernetes://"
	// CASuffix ends the SDS name of a credential's CA bundle.
	CASuffix = "-cacert"
	// builtinCredential is the credentialName meaning "the workload's own
	// certificate" (SDS default and ROOTCA, as for ISTIO_MUTUAL).
	builtinCredential = "builtin://"
)

// ALPN lists Istio advertises on terminated gateway TLS.
var (
	alpnHTTP        = []string{"h2", "http/1.1"}
	alpnIstioTCPMTL = []string{"istio-peer-exchange", "h2", "http/1.1"}
	// istioMTLSALPNs are the protocols Istio sidecars offer when they
	// originate mTLS; AUTO_PASSTHROUGH chains match them, so only mesh
	// mTLS goes through.
	istioMTLSALPNs = []string{"istio", "istio-peer-exchange", "istio-http/1.0", "istio-http/1.1", "istio-h2"}
)

// downstreamTLS is the TLS context a server terminates with; nil for
// passthrough servers and servers without TLS. tcp says the server is
// not HTTP (TLS terminated in front of a TCP proxy); ads that the router
// fetches its workload secrets over ADS (networking.SDSSecret).
func downstreamTLS(mesh *meshv1alpha1.MeshConfig, s *server, tcp, ads bool) *tlsv3.DownstreamTlsContext {
	t := s.tls()
	if t == nil || s.passthrough() {
		return nil
	}
	mode := t.GetMode()
	alpn := alpnHTTP
	if mode == networkingv1alpha3.ServerTLSSettings_ISTIO_MUTUAL && tcp {
		alpn = alpnIstioTCPMTL
	}
	// Generated protos never share slices with package state or specs.
	common := &tlsv3.CommonTlsContext{AlpnProtocols: slices.Clone(alpn)}
	ctx := &tlsv3.DownstreamTlsContext{CommonTlsContext: common, RequireClientCertificate: wrapperspb.Bool(false)}
	mutual := mode == networkingv1alpha3.ServerTLSSettings_MUTUAL || mode == networkingv1alpha3.ServerTLSSettings_ISTIO_MUTUAL
	if mutual {
		ctx.RequireClientCertificate = wrapperspb.Bool(true)
	}
	validate := mutual || mode == networkingv1alpha3.ServerTLSSettings_OPTIONAL_MUTUAL

	switch {
	case mode == networkingv1alpha3.ServerTLSSettings_ISTIO_MUTUAL:
		// The workload certificate and trust bundle come from the
		// router's own agent, by name only, as with istiod, or over ADS.
		common.TlsCertificateSdsSecretConfigs = []*tlsv3.SdsSecretConfig{networking.SDSSecret(networking.WorkloadCertSecret, ads)}
		common.ValidationContextType = combined(validationContext(t, true), networking.SDSSecret(networking.RootCASecret, ads))
	case t.GetCredentialName() != "" || len(t.GetCredentialNames()) > 0:
		names := t.GetCredentialNames()
		if len(names) == 0 {
			names = []string{t.GetCredentialName()}
		}
		for _, n := range names {
			common.TlsCertificateSdsSecretConfigs = append(common.TlsCertificateSdsSecretConfigs, credentialSDS(n, ads))
		}
		// A caCertCredentialName is not supported: the CA comes from the
		// first credential (Analyze: gateway-ca-credential).
		switch {
		case validate:
			common.ValidationContextType = combined(validationContext(t, false), credentialSDS(names[0]+CASuffix, ads))
		case len(t.GetSubjectAltNames()) > 0:
			common.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContext{
				ValidationContext: &tlsv3.CertificateValidationContext{MatchTypedSubjectAltNames: sanMatchers(t.GetSubjectAltNames())},
			}
		}
	default:
		// Files mounted into the router. Istio serves them through the
		// agent's SDS (file-cert:...); pilotlight points Envoy at the
		// files, which plain Envoy can read too (Analyze: gateway-file-certs
		// notes that Envoy then does not watch them for rotation).
		certs := t.GetTlsCertificates()
		if len(certs) == 0 {
			certs = []*networkingv1alpha3.ServerTLSSettings_TLSCertificate{{
				ServerCertificate: t.GetServerCertificate(), PrivateKey: t.GetPrivateKey(),
			}}
		}
		for _, c := range certs {
			common.TlsCertificates = append(common.TlsCertificates, &tlsv3.TlsCertificate{
				CertificateChain: resource.File(c.GetServerCertificate()),
				PrivateKey:       resource.File(c.GetPrivateKey()),
			})
		}
		if validate {
			vc := validationContext(t, true)
			vc.TrustedCa = resource.File(t.GetCaCertificates())
			common.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: vc}
		}
	}
	if mode == networkingv1alpha3.ServerTLSSettings_SIMPLE || mode == networkingv1alpha3.ServerTLSSettings_MUTUAL ||
		mode == networkingv1alpha3.ServerTLSSettings_OPTIONAL_MUTUAL {
		applyTLSDefaults(common, mesh.GetTlsDefaults())
		applyTLSParams(common, t)
	}
	return ctx
}

// validationContext holds the checks on client certificates besides the
// CA: subject alt names, and for credential servers SPKI and hash pins.
// withCRL adds the server's CRL file.
func validationContext(t *networkingv1alpha3.ServerTLSSettings, withCRL bool) *tlsv3.CertificateValidationContext {
	vc := &tlsv3.CertificateValidationContext{MatchTypedSubjectAltNames: sanMatchers(t.GetSubjectAltNames())}
	if !withCRL {
		vc.VerifyCertificateSpki = slices.Clone(t.GetVerifyCertificateSpki())
		vc.VerifyCertificateHash = slices.Clone(t.GetVerifyCertificateHash())
	}
	if withCRL && t.GetCaCrl() != "" {
		vc.Crl = resource.File(t.GetCaCrl())
	}
	return vc
}

func combined(def *tlsv3.CertificateValidationContext, sds *tlsv3.SdsSecretConfig) *tlsv3.CommonTlsContext_CombinedValidationContext {
	return &tlsv3.CommonTlsContext_CombinedValidationContext{CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
		DefaultValidationContext:         def,
		ValidationContextSdsSecretConfig: sds,
	}}
}

// sanMatchers matches subject alt names exactly, each against the SAN
// type its form says: URIs (SPIFFE ids) by scheme, IP addresses, email
// addresses, and DNS names for the rest.
func sanMatchers(names []string) []*tlsv3.SubjectAltNameMatcher {
	var out []*tlsv3.SubjectAltNameMatcher
	for _, n := range names {
		typ := tlsv3.SubjectAltNameMatcher_DNS
		switch {
		case strings.Contains(n, "://"):
			typ = tlsv3.SubjectAltNameMatcher_URI
		case isIP(n):
			typ = tlsv3.SubjectAltNameMatcher_IP_ADDRESS
		case strings.Contains(n, "@"):
			typ = tlsv3.SubjectAltNameMatcher_EMAIL
		}
		out = append(out, &tlsv3.SubjectAltNameMatcher{
			SanType: typ,
			Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: n}},
		})
	}
	return out
}

func isIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}

// CredentialResourceName is the SDS name of a credentialName:
// kubernetes://NAME, unless it already names a scheme.
func CredentialResourceName(credentialName string) string {
	if strings.Contains(credentialName, "://") {
		return credentialName
	}
	return KubernetesSecretPrefix + credentialName
}

// credentialSDS fetches a credentialName secret over ADS. Unlike the
// workload's secrets it keeps Envoy's initial fetch timeout, as istiod
// does: a secret that does not exist must not hold the whole listener
// back. builtin:// names the workload's own, fetched as for ISTIO_MUTUAL
// (ads as in downstreamTLS).
func credentialSDS(credentialName string, ads bool) *tlsv3.SdsSecretConfig {
	switch credentialName {
	case builtinCredential:
		return networking.SDSSecret(networking.WorkloadCertSecret, ads)
	case builtinCredential + CASuffix:
		return networking.SDSSecret(networking.RootCASecret, ads)
	}
	return &tlsv3.SdsSecretConfig{Name: CredentialResourceName(credentialName), SdsConfig: resource.ADS()}
}

func tlsParams(common *tlsv3.CommonTlsContext) *tlsv3.TlsParameters {
	if common.TlsParams == nil {
		common.TlsParams = &tlsv3.TlsParameters{}
	}
	return common.TlsParams
}

// applyTLSDefaults applies the mesh's tlsDefaults (curves, ciphers,
// minimum version) to a terminating server.
func applyTLSDefaults(common *tlsv3.CommonTlsContext, d *meshv1alpha1.MeshConfig_TLSConfig) {
	if d == nil {
		return
	}
	if len(d.GetEcdhCurves()) > 0 {
		tlsParams(common).EcdhCurves = slices.Clone(d.GetEcdhCurves())
	}
	if len(d.GetCipherSuites()) > 0 {
		tlsParams(common).CipherSuites = slices.Clone(d.GetCipherSuites())
	}
	switch d.GetMinProtocolVersion() {
	case meshv1alpha1.MeshConfig_TLSConfig_TLSV1_2:
		tlsParams(common).TlsMinimumProtocolVersion = tlsv3.TlsParameters_TLSv1_2
	case meshv1alpha1.MeshConfig_TLSConfig_TLSV1_3:
		tlsParams(common).TlsMinimumProtocolVersion = tlsv3.TlsParameters_TLSv1_3
	}
}

// applyTLSParams applies the server's own versions and ciphers, which
// override the mesh defaults. Istio's and Envoy's version enums line up
// one to one.
func applyTLSParams(common *tlsv3.CommonTlsContext, t *networkingv1alpha3.ServerTLSSettings) {
	if v := t.GetMinProtocolVersion(); v != networkingv1alpha3.ServerTLSSettings_TLS_AUTO {
		tlsParams(common).TlsMinimumProtocolVersion = tlsv3.TlsParameters_TlsProtocol(v)
	}
	if v := t.GetMaxProtocolVersion(); v != networkingv1alpha3.ServerTLSSettings_TLS_AUTO {
		tlsParams(common).TlsMaximumProtocolVersion = tlsv3.TlsParameters_TlsProtocol(v)
	}
	if len(t.GetCipherSuites()) > 0 {
		tlsParams(common).CipherSuites = slices.Clone(t.GetCipherSuites())
	}
}

// transportSocket wraps a TLS context for a filter chain.
func transportSocket(ctx *tlsv3.DownstreamTlsContext) *corev3.TransportSocket {
	return &corev3.TransportSocket{
		Name:       wellknown.TransportSocketTLS,
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: resource.Any(ctx)},
	}
}
