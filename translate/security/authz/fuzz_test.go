package authz_test

import (
	"testing"
	"unicode/utf8"

	securityv1beta1 "istio.io/api/security/v1beta1"

	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/security/authz"
)

// FuzzRule: whatever a rule says, every target's filters are built
// without panicking and pass Envoy's validation.
func FuzzRule(f *testing.F) {
	for _, seed := range [][3]string{
		{"cluster.local/ns/a/sa/b", "/api/*", "request.headers[x-id]"},
		{"*", "*", "request.auth.claims[groups][0]"},
		{"*/sa/b", "/a/{*}/b/{**}", "source.ip"},
		{"", "", ""},
		{"a", "[", "request.headers["},
	} {
		f.Add(seed[0], seed[1], seed[2], "10.0.0.0/8", uint8(0))
	}
	f.Fuzz(func(t *testing.T, principal, path, key, value string, action uint8) {
		for _, s := range []string{principal, path, key, value} {
			if !utf8.ValidString(s) {
				t.Skip("Kubernetes objects hold valid UTF-8 only")
			}
		}
		spec := &securityv1beta1.AuthorizationPolicy{
			Action: securityv1beta1.AuthorizationPolicy_Action(action % 3), // ALLOW, DENY, AUDIT
			Rules: []*securityv1beta1.Rule{{
				From: []*securityv1beta1.Rule_From{{Source: &securityv1beta1.Source{
					Principals: []string{principal}, NotNamespaces: []string{principal}, RemoteIpBlocks: []string{value},
					RequestPrincipals: []string{principal},
				}}},
				To: []*securityv1beta1.Rule_To{{Operation: &securityv1beta1.Operation{
					Paths: []string{path}, Methods: []string{value}, Hosts: []string{path}, Ports: []string{value},
				}}},
				When: []*securityv1beta1.Condition{{Key: key, Values: []string{value}, NotValues: []string{path}}},
			}},
		}
		b := model.NewBuilder()
		b.AddConfig(&model.Config{Kind: model.KindAuthorizationPolicy, Namespace: "ns", Name: "p", Spec: spec})
		snap := b.Build()
		p := authz.For(snap, "ns", nil)
		httpRBAC(t, authz.HTTPFilters(snap, p))
		networkRBAC(t, authz.NetworkFilters(snap, p))
		httpRBAC(t, authz.GRPCFilters(snap, p))
	})
}
