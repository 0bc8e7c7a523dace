package gateway_test

import (
	"fmt"
	"testing"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/pilotlight/pilotlight/translate/gateway"
	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/model/modeltest"
	"github.com/pilotlight/pilotlight/translate/resource"
)

// benchMesh is the synthetic mesh with an ingress Gateway serving every
// service under its own host, over HTTP and HTTPS, one VirtualService
// each.
func benchMesh(services int) *model.Snapshot {
	m := modeltest.Mesh{Namespaces: 10, Services: services, Endpoints: 10}
	b := m.Builder()
	b.AddConfig(gatewayConfig("istio-system", "public",
		&networkingv1alpha3.Server{Port: &networkingv1alpha3.Port{Number: 80, Name: "http", Protocol: "HTTP"}, Hosts: []string{"*/*"}},
		https(443, "https", []string{"*/*.example.com"}, &networkingv1alpha3.ServerTLSSettings{
			Mode: networkingv1alpha3.ServerTLSSettings_SIMPLE, CredentialName: "wildcard-cert",
		})))
	b.AddCredential(credential("istio-system", "wildcard-cert"))
	for i := range services {
		ns := modeltest.NamespaceName(i % m.Namespaces)
		name := fmt.Sprintf("svc-%d", i)
		b.AddConfig(&model.Config{Kind: model.KindVirtualService, Namespace: ns, Name: name, Spec: &networkingv1alpha3.VirtualService{
			Hosts:    []string{name + ".example.com"},
			Gateways: []string{"istio-system/public"},
			Http: []*networkingv1alpha3.HTTPRoute{{Route: []*networkingv1alpha3.HTTPRouteDestination{{
				Destination: &networkingv1alpha3.Destination{Host: modeltest.Hostname(name, ns)},
			}}}},
		}})
	}
	return b.Build()
}

// BenchmarkRouter measures what an ingress gateway costs per type with
// 1,000 services, each behind its own host on HTTP and HTTPS.
func BenchmarkRouter(b *testing.B) {
	snap := benchMesh(1000)
	v := router("istio-system", ingress)
	for _, typ := range []string{resource.ListenerType, resource.RouteType, resource.ClusterType, resource.SecretType} {
		b.Run(typ[len("type.googleapis.com/envoy."):], func(b *testing.B) {
			for b.Loop() {
				gateway.Generator{}.Outbound(snap, v, typ)
			}
		})
	}
}
