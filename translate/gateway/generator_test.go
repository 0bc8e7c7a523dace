package gateway_test

import (
	"bytes"
	"slices"
	"testing"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/pilotlight/pilotlight/translate"
	"github.com/pilotlight/pilotlight/translate/gateway"
	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/resource"
)

var ingress = map[string]string{"istio": "ingressgateway"}

func router(ns string, labels map[string]string) model.OutboundView {
	return model.OutboundView{Flavor: model.FlavorRouter, Namespace: ns, Labels: labels}
}

func credential(ns, name string) *model.Credential {
	return &model.Credential{Namespace: ns, Name: name,
		Cert: []byte("cert of " + ns), PrivateKey: model.SecretBytes("key of " + ns), CACert: []byte("ca of " + ns)}
}

func gatewayConfig(ns, name string, servers ...*networkingv1alpha3.Server) *model.Config {
	return &model.Config{Kind: model.KindGateway, Namespace: ns, Name: name,
		Spec: &networkingv1alpha3.Gateway{Selector: ingress, Servers: servers}}
}

func https(port uint32, name string, hosts []string, tls *networkingv1alpha3.ServerTLSSettings) *networkingv1alpha3.Server {
	return &networkingv1alpha3.Server{
		Port:  &networkingv1alpha3.Port{Number: port, Name: name, Protocol: "HTTPS"},
		Hosts: hosts,
		Tls:   tls,
	}
}

func names(rs []resource.Resource) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Name)
	}
	return out
}

func messages(rs []resource.Resource) []proto.Message {
	var out []proto.Message
	for _, r := range rs {
		out = append(out, r.Message)
	}
	return out
}

// A router receives a Secret only from its own namespace, whichever
// namespace the Gateway naming it is in and however the name is written;
// its listener still names the secret, and Envoy waits for it in vain.
func TestSecretsComeOnlyFromTheRoutersNamespace(t *testing.T) {
	b := model.NewBuilder()
	b.AddConfig(gatewayConfig("shop", "web",
		https(443, "https-web", []string{"web.example.com"}, &networkingv1alpha3.ServerTLSSettings{
			Mode: networkingv1alpha3.ServerTLSSettings_MUTUAL, CredentialName: "web-cert",
		}),
		https(443, "https-shop", []string{"shop.example.com"}, &networkingv1alpha3.ServerTLSSettings{
			Mode: networkingv1alpha3.ServerTLSSettings_SIMPLE, CredentialName: "kubernetes://shop/shop-only",
		}),
	))
	b.AddCredential(credential("shop", "web-cert"))
	b.AddCredential(credential("shop", "shop-only"))
	b.AddCredential(credential("payments", "web-cert"))
	snap := b.Build()
	gen := gateway.Generator{}

	for _, tc := range []struct {
		ns   string
		want []string
	}{
		{"istio-system", nil},
		{"payments", []string{"kubernetes://web-cert", "kubernetes://web-cert-cacert"}},
		{"shop", []string{"kubernetes://shop/shop-only", "kubernetes://web-cert", "kubernetes://web-cert-cacert"}},
	} {
		v := router(tc.ns, ingress)
		referenced := gateway.SecretNames(messages(gen.Outbound(snap, v, resource.ListenerType)))
		if want := []string{"kubernetes://shop/shop-only", "kubernetes://web-cert", "kubernetes://web-cert-cacert"}; !slices.Equal(referenced, want) {
			t.Fatalf("%s: listeners name secrets %v, want %v", tc.ns, referenced, want)
		}
		secrets := gen.Outbound(snap, v, resource.SecretType)
		if got := names(secrets); !slices.Equal(got, tc.want) {
			t.Errorf("%s: secrets %v, want %v", tc.ns, got, tc.want)
		}
		for _, r := range secrets {
			s := r.Message.(*tlsv3.Secret)
			for _, b := range [][]byte{
				s.GetTlsCertificate().GetCertificateChain().GetInlineBytes(),
				s.GetTlsCertificate().GetPrivateKey().GetInlineBytes(),
				s.GetValidationContext().GetTrustedCa().GetInlineBytes(),
			} {
				if len(b) > 0 && !bytes.HasSuffix(b, []byte(" of "+tc.ns)) {
					t.Errorf("%s: secret %s holds %q, from another namespace", tc.ns, r.Name, b)
				}
			}
		}
		// Asking by name, as Envoy does, changes nothing.
		p := &model.Proxy{Type: model.Router, Namespace: tc.ns, Labels: ingress}
		got, err := translate.Generate(snap, p, resource.SecretType, append(referenced, "kubernetes://payments/web-cert", "kubernetes://istio-system/x"))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(names(got), tc.want) {
			t.Errorf("%s: named subscription got %v, want %v", tc.ns, names(got), tc.want)
		}
	}
}

// A Secret of the router's namespace that no Gateway selecting the
// router names is not served, and neither is anything to a router no
// Gateway selects.
func TestUnreferencedSecretsAreNotServed(t *testing.T) {
	b := model.NewBuilder()
	b.AddConfig(gatewayConfig("shop", "web", https(443, "https", []string{"*"}, &networkingv1alpha3.ServerTLSSettings{
		Mode: networkingv1alpha3.ServerTLSSettings_SIMPLE, CredentialName: "web-cert",
	})))
	b.AddCredential(credential("shop", "web-cert"))
	b.AddCredential(credential("shop", "root-ca-key"))
	snap := b.Build()
	gen := gateway.Generator{}
	if got := names(gen.Outbound(snap, router("shop", ingress), resource.SecretType)); !slices.Equal(got, []string{"kubernetes://web-cert"}) {
		t.Errorf("selected router got %v", got)
	}
	egress := router("shop", map[string]string{"istio": "egressgateway"})
	for _, typ := range []string{resource.ListenerType, resource.RouteType, resource.SecretType} {
		if got := gen.Outbound(snap, egress, typ); len(got) != 0 {
			t.Errorf("unselected router got %s %v", typ, names(got))
		}
	}
	if len(gen.Outbound(snap, egress, resource.ClusterType)) == 0 {
		t.Error("an unselected router still needs its clusters")
	}
}

// A Sidecar resource, even the mesh-wide one in the root namespace,
// scopes sidecars only: a router keeps the clusters of every service
// exported to its namespace, as in Istio.
func TestSidecarResourcesDoNotScopeRouters(t *testing.T) {
	b := model.NewBuilder()
	for _, ns := range []string{"istio-system", "shop"} {
		b.AddService(&model.Service{Hostname: "web." + ns + ".svc.cluster.local", Name: "web", Namespace: ns,
			Ports: []model.Port{{Name: "http", Number: 80, Protocol: model.HTTP}}})
	}
	b.AddConfig(&model.Config{Kind: model.KindSidecar, Namespace: "istio-system", Name: "default", Spec: &networkingv1alpha3.Sidecar{
		Egress: []*networkingv1alpha3.IstioEgressListener{{Hosts: []string{"./*"}}},
	}})
	snap := b.Build()
	got := names(gateway.Generator{}.Outbound(snap, router("istio-system", ingress), resource.ClusterType))
	for _, want := range []string{"outbound|80||web.istio-system.svc.cluster.local", "outbound|80||web.shop.svc.cluster.local"} {
		if !slices.Contains(got, want) {
			t.Errorf("router clusters %v lack %s", got, want)
		}
	}
}
