package gateway

import (
	"slices"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"

	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/resource"
)

// secrets builds the SDS secrets the router's listeners fetch over ADS
// (credentialName servers), from the Secrets of the router's own
// namespace only. A name the router's listeners do not reference is
// never served, even if a Secret of that name exists: a Secret becomes a
// gateway's key only when a Gateway selecting it names it. A referenced
// Secret that is missing, or lacks the part asked for, yields nothing;
// Envoy then keeps the listener warming until its initial fetch timeout
// and refuses handshakes on that server, as with istiod.
func secrets(snap *model.Snapshot, v model.OutboundView, ls []resource.Resource) []resource.Resource {
	msgs := make([]proto.Message, 0, len(ls))
	for _, l := range ls {
		msgs = append(msgs, l.Message)
	}
	var out []resource.Resource
	for _, name := range SecretNames(msgs) {
		if s := secret(snap, v.Namespace, name); s != nil {
			out = append(out, resource.Resource{Name: name, Message: s})
		}
	}
	return out
}

// secret builds one SDS secret from a Secret in namespace ns; nil if the
// name is not a Kubernetes secret of that namespace or no usable Secret
// backs it.
func secret(snap *model.Snapshot, ns, sdsName string) *tlsv3.Secret {
	ref, ok := strings.CutPrefix(sdsName, KubernetesSecretPrefix)
	if !ok {
		return nil // Other schemes (external SDS providers) are not served (Analyze: gateway-credential-scheme).
	}
	if refNS, name, qualified := strings.Cut(ref, "/"); qualified {
		if refNS != ns {
			return nil // Another namespace's Secret: never, whatever the Gateway says.
		}
		ref = name
	}
	if base, isCA := strings.CutSuffix(ref, CASuffix); isCA {
		// NAME-cacert is the Secret of that name if there is one, else
		// the CA bundle of Secret NAME, as istiod resolves it.
		c := snap.Credential(ns, ref)
		if c == nil {
			c = snap.Credential(ns, base)
		}
		if c == nil || !c.HasCA() {
			return nil
		}
		vc := &tlsv3.CertificateValidationContext{TrustedCa: inline(c.CACert)}
		if len(c.CRL) > 0 {
			vc.Crl = inline(c.CRL)
		}
		return &tlsv3.Secret{Name: sdsName, Type: &tlsv3.Secret_ValidationContext{ValidationContext: vc}}
	}
	c := snap.Credential(ns, ref)
	if c == nil || !c.HasCertificate() {
		return nil
	}
	cert := &tlsv3.TlsCertificate{
		CertificateChain: inline(c.Cert),
		PrivateKey:       inline(c.PrivateKey),
	}
	if len(c.Staple) > 0 {
		cert.OcspStaple = inline(c.Staple)
	}
	return &tlsv3.Secret{Name: sdsName, Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: cert}}
}

func inline(b []byte) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: b}}
}

// SecretNames lists, sorted and distinct, the secrets listeners fetch
// over ADS: the SDS configs of their TLS transport sockets whose source
// is the ADS stream (not the agent's sds-grpc cluster). Tests and tools
// use it to ask for exactly what Envoy would ask for.
func SecretNames(listeners []proto.Message) []string {
	var names []string
	add := func(c *tlsv3.SdsSecretConfig) {
		if c.GetSdsConfig().GetAds() != nil {
			names = append(names, c.GetName())
		}
	}
	for _, m := range listeners {
		l, ok := m.(*listenerv3.Listener)
		if !ok {
			continue
		}
		for _, fc := range append(l.GetFilterChains(), l.GetDefaultFilterChain()) {
			ctx := &tlsv3.DownstreamTlsContext{}
			ts := fc.GetTransportSocket().GetTypedConfig()
			if ts == nil || !ts.MessageIs(ctx) || ts.UnmarshalTo(ctx) != nil {
				continue
			}
			common := ctx.GetCommonTlsContext()
			for _, c := range common.GetTlsCertificateSdsSecretConfigs() {
				add(c)
			}
			add(common.GetValidationContextSdsSecretConfig())
			add(common.GetCombinedValidationContext().GetValidationContextSdsSecretConfig())
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}
