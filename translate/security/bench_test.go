package security_test

import (
	"fmt"
	"testing"

	securityv1beta1 "istio.io/api/security/v1beta1"
	typev1beta1 "istio.io/api/type/v1beta1"

	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/model/modeltest"
	"github.com/pilotlight/pilotlight/translate/security"
)

// policyMesh is 1,000 services in 10 namespaces under 1,000
// AuthorizationPolicies (100 per namespace, one per app, three rules
// each) and a RequestAuthentication per namespace.
func policyMesh() *model.Snapshot {
	b := modeltest.Mesh{Namespaces: 10, Services: 1000, Endpoints: 1}.Builder()
	for n := range 10 {
		ns := modeltest.NamespaceName(n)
		for i := range 100 {
			b.AddConfig(&model.Config{Kind: model.KindAuthorizationPolicy, Namespace: ns, Name: fmt.Sprintf("app-%d", i), Spec: &securityv1beta1.AuthorizationPolicy{
				Selector: &typev1beta1.WorkloadSelector{MatchLabels: map[string]string{"app": fmt.Sprintf("app-%d", i)}},
				Rules: []*securityv1beta1.Rule{
					{From: []*securityv1beta1.Rule_From{{Source: &securityv1beta1.Source{Principals: []string{"cluster.local/ns/" + ns + "/sa/frontend"}}}},
						To: []*securityv1beta1.Rule_To{{Operation: &securityv1beta1.Operation{Methods: []string{"GET", "POST"}, Paths: []string{"/api/*"}}}}},
					{From: []*securityv1beta1.Rule_From{{Source: &securityv1beta1.Source{Namespaces: []string{"ops"}}}}},
					{From: []*securityv1beta1.Rule_From{{Source: &securityv1beta1.Source{RequestPrincipals: []string{"https://issuer.example/*"}}}}},
				},
			}})
		}
		b.AddConfig(&model.Config{Kind: model.KindRequestAuthentication, Namespace: ns, Name: "issuer", Spec: &securityv1beta1.RequestAuthentication{
			JwtRules: []*securityv1beta1.JWTRule{{Issuer: "https://issuer.example", Jwks: `{"keys":[]}`}},
		}})
	}
	return b.Build()
}

// BenchmarkHTTPFilters is the security filters of one sidecar's inbound
// HTTP chains: selecting its policies among 1,000 and translating them.
func BenchmarkHTTPFilters(b *testing.B) {
	snap := policyMesh()
	v := model.InboundView{Flavor: model.FlavorSidecar, Namespace: modeltest.NamespaceName(3), Labels: map[string]string{"app": "app-42"}}
	if len(security.InboundHTTPFilters(snap, v)) != 2 {
		b.Fatal("want jwt_authn and one ALLOW filter")
	}
	b.ReportAllocs()
	for b.Loop() {
		security.InboundHTTPFilters(snap, v)
	}
}

// BenchmarkGRPCServerFilters is the same for a proxyless server.
func BenchmarkGRPCServerFilters(b *testing.B) {
	snap := policyMesh()
	v := model.InboundView{Flavor: model.FlavorGRPC, Namespace: modeltest.NamespaceName(3), Labels: map[string]string{"app": "app-42"}}
	b.ReportAllocs()
	for b.Loop() {
		security.GRPCServerFilters(snap, v)
	}
}
