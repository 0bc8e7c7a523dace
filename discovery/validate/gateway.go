package validate

import (
	"net/netip"
	"strings"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/pilotlight/pilotlight/translate/model"
)

// gateway checks a Gateway as Istio's validation does: servers with a
// named port of a known protocol, hosts of the form [NAMESPACE/]HOST, TLS
// settings that fit the protocol and mode, and port names unique in the
// Gateway (they name HTTPS route tables). What Istio accepts and
// pilotlight does not carry out is a warning.
func (r *report) gateway(gw *networkingv1alpha3.Gateway) {
	spec := field.NewPath("spec")
	if len(gw.GetServers()) == 0 {
		r.errorf(spec.Child("servers"), "at least one server is required")
	}
	r.labels(spec.Child("selector"), gw.GetSelector())
	portNames := map[string]int{}
	for i, s := range gw.GetServers() {
		path := spec.Child("servers").Index(i)
		p := r.gatewayPort(path.Child("port"), s.GetPort())
		if name := s.GetPort().GetName(); name != "" {
			if first, dup := portNames[name]; dup {
				r.errorf(path.Child("port", "name"), "port name %q is used by servers[%d] too; port names must be unique in a Gateway", name, first)
			} else {
				portNames[name] = i
			}
		}
		if len(s.GetHosts()) == 0 {
			r.errorf(path.Child("hosts"), "at least one host is required")
		}
		for j, h := range s.GetHosts() {
			r.gatewayHost(path.Child("hosts").Index(j), h)
		}
		if b := s.GetBind(); b != "" {
			if _, err := netip.ParseAddr(b); err != nil {
				if strings.HasPrefix(b, unixAddressPrefix) {
					r.warnf(path.Child("bind"), "unix domain socket binds are not supported; the server is not served")
				} else {
					r.errorf(path.Child("bind"), "%q is not an IP address", b)
				}
			}
		}
		if s.GetDefaultEndpoint() != "" {
			r.warnf(path.Child("defaultEndpoint"), "defaultEndpoint applies to Sidecars only and is ignored on a Gateway")
		}
		r.gatewayTLS(path.Child("tls"), p, s.GetTls())
	}
}

// gatewayPort checks a server port and returns its protocol.
func (r *report) gatewayPort(path *field.Path, port *networkingv1alpha3.Port) model.Protocol {
	if port == nil {
		r.errorf(path, "port is required")
		return model.Unsupported
	}
	if n := port.GetNumber(); n < 1 || n > 65535 {
		r.errorf(path.Child("number"), "port %d is outside 1-65535", n)
	}
	if port.GetName() == "" {
		r.errorf(path.Child("name"), "port name is required")
	}
	p := model.ParseProtocol(port.GetProtocol())
	switch p {
	case model.Unsupported:
		r.errorf(path.Child("protocol"), "unknown protocol %q (HTTP, HTTPS, HTTP2, GRPC, GRPC-WEB, TCP, TLS, MONGO, REDIS, MYSQL)", port.GetProtocol())
	case model.UDP:
		r.warnf(path.Child("protocol"), "UDP servers are not supported; the server is not served")
	case model.GRPCWeb:
		r.warnf(path.Child("protocol"), "GRPC-WEB is served as plain HTTP: pilotlight adds no grpc_web filter")
	}
	return p
}

// gatewayHost: "*", a DNS name with an optional leading wildcard, each
// optionally prefixed by "NAMESPACE/", "./" or "*/".
func (r *report) gatewayHost(path *field.Path, h string) {
	ns, host, qualified := strings.Cut(h, "/")
	if !qualified {
		host, ns = h, ""
	}
	switch {
	case qualified && ns == "":
		r.errorf(path, "%q: the namespace before / must not be empty", h)
	case qualified && ns != "." && ns != "*":
		r.check(path, h, validation.IsDNS1123Label(ns))
	}
	switch host {
	case "":
		r.errorf(path, "host must not be empty")
	case "*":
	default:
		r.check(path, h, validation.IsDNS1123Subdomain(strings.TrimPrefix(host, "*.")))
	}
}

// gatewayTLS checks TLS settings against the protocol and mode: HTTPS and
// TLS servers need them, plaintext servers may only redirect, and a
// terminating mode needs a certificate from exactly one source.
func (r *report) gatewayTLS(path *field.Path, p model.Protocol, t *networkingv1alpha3.ServerTLSSettings) {
	tlsProtocol := p == model.HTTPS || p == model.TLS
	if t == nil {
		if tlsProtocol {
			r.errorf(path, "a %s server needs tls settings", p)
		}
		return
	}
	mode := t.GetMode()
	if !tlsProtocol {
		switch {
		case !t.GetHttpsRedirect():
			r.errorf(path, "a %s server cannot have TLS settings other than httpsRedirect; use HTTPS or TLS to terminate or pass through TLS", p)
		case mode != networkingv1alpha3.ServerTLSSettings_PASSTHROUGH || hasCertificate(t):
			r.warnf(path, "a %s server only redirects to HTTPS; its other TLS settings are ignored", p)
		}
		return
	}
	credentials := t.GetCredentialName() != "" || len(t.GetCredentialNames()) > 0
	files := t.GetServerCertificate() != "" || t.GetPrivateKey() != "" || len(t.GetTlsCertificates()) > 0
	switch mode {
	case networkingv1alpha3.ServerTLSSettings_PASSTHROUGH:
	case networkingv1alpha3.ServerTLSSettings_AUTO_PASSTHROUGH:
		if p != model.TLS {
			r.errorf(path.Child("mode"), "AUTO_PASSTHROUGH needs protocol TLS")
		}
	case networkingv1alpha3.ServerTLSSettings_ISTIO_MUTUAL:
		if credentials || files || t.GetCaCertificates() != "" {
			r.errorf(path, "ISTIO_MUTUAL uses the workload certificate; credentialName and certificate files must not be set")
		}
	case networkingv1alpha3.ServerTLSSettings_SIMPLE, networkingv1alpha3.ServerTLSSettings_MUTUAL, networkingv1alpha3.ServerTLSSettings_OPTIONAL_MUTUAL:
		switch {
		case credentials && files:
			r.errorf(path, "set either credentialName or certificate files, not both")
		case !credentials && !files:
			r.errorf(path, "%s needs credentialName, or serverCertificate and privateKey", mode)
		case files && len(t.GetTlsCertificates()) == 0 && (t.GetServerCertificate() == "" || t.GetPrivateKey() == ""):
			r.errorf(path, "serverCertificate and privateKey go together")
		}
		if mode != networkingv1alpha3.ServerTLSSettings_SIMPLE && files && t.GetCaCertificates() == "" {
			r.errorf(path.Child("caCertificates"), "%s with certificate files needs caCertificates to check clients", mode)
		}
	default:
		r.errorf(path.Child("mode"), "unknown TLS mode %s", mode)
	}
	if t.GetCaCertCredentialName() != "" {
		r.warnf(path.Child("caCertCredentialName"), "not supported: a MUTUAL server's CA comes from its credential (NAME-cacert, or ca.crt of NAME)")
	}
	for i, n := range append([]string{t.GetCredentialName()}, t.GetCredentialNames()...) {
		if n == "" {
			continue
		}
		field := path.Child("credentialName")
		if i > 0 {
			field = path.Child("credentialNames").Index(i - 1)
		}
		if scheme, _, ok := strings.Cut(n, "://"); ok && scheme != "kubernetes" && scheme != "builtin" {
			r.warnf(field, "credentials of scheme %s:// are not served; only Kubernetes Secrets of the gateway's own namespace are", scheme)
		}
	}
}

func hasCertificate(t *networkingv1alpha3.ServerTLSSettings) bool {
	return t.GetCredentialName() != "" || len(t.GetCredentialNames()) > 0 || t.GetServerCertificate() != "" ||
		t.GetPrivateKey() != "" || len(t.GetTlsCertificates()) > 0 || t.GetCaCertificates() != ""
}
