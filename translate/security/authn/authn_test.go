package authn_test

import (
	"testing"

	jwtauthnv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/emptypb"
	securityv1beta1 "istio.io/api/security/v1beta1"
	typev1beta1 "istio.io/api/type/v1beta1"

	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/resource"
	"github.com/pilotlight/pilotlight/translate/security/authn"
)

const inlineKeys = `{"keys":[{"kty":"EC","crv":"P-256","kid":"k","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`

func requestAuthn(ns, name string, selector map[string]string, rules ...*securityv1beta1.JWTRule) *model.Config {
	spec := &securityv1beta1.RequestAuthentication{JwtRules: rules}
	if selector != nil {
		spec.Selector = &typev1beta1.WorkloadSelector{MatchLabels: selector}
	}
	return &model.Config{Kind: model.KindRequestAuthentication, Namespace: ns, Name: name, Spec: spec}
}

func filterConfig(t *testing.T, snap *model.Snapshot, ns string, labels map[string]string) *jwtauthnv3.JwtAuthentication {
	t.Helper()
	f := authn.HTTPFilter(snap, ns, labels)
	if f == nil {
		return nil
	}
	cfg := &jwtauthnv3.JwtAuthentication{}
	if err := f.GetTypedConfig().UnmarshalTo(cfg); err != nil {
		t.Fatal(err)
	}
	if err := resource.Validate(cfg); err != nil {
		t.Errorf("jwt_authn does not validate: %v", err)
	}
	return cfg
}

// One issuer: its token must verify if present; no token passes.
func TestOneIssuer(t *testing.T) {
	b := model.NewBuilder()
	b.AddConfig(requestAuthn("bank", "a", map[string]string{"app": "ledger"}, &securityv1beta1.JWTRule{
		Issuer: "https://issuer.example", Jwks: inlineKeys, Audiences: []string{"ledger"},
		FromHeaders: []*securityv1beta1.JWTHeader{{Name: "x-token"}}, SpaceDelimitedClaims: []string{"roles", "scope"},
	}))
	snap := b.Build()
	if cfg := filterConfig(t, snap, "bank", map[string]string{"app": "other"}); cfg != nil {
		t.Fatalf("an unselected workload gets jwt_authn: %v", cfg)
	}
	cfg := filterConfig(t, snap, "bank", map[string]string{"app": "ledger"})
	want := &jwtauthnv3.JwtRequirement{RequiresType: &jwtauthnv3.JwtRequirement_RequiresAny{RequiresAny: &jwtauthnv3.JwtRequirementOrList{
		Requirements: []*jwtauthnv3.JwtRequirement{
			{RequiresType: &jwtauthnv3.JwtRequirement_ProviderName{ProviderName: "origins-0"}},
			{RequiresType: &jwtauthnv3.JwtRequirement_AllowMissing{AllowMissing: &emptypb.Empty{}}},
		},
	}}}
	if diff := cmp.Diff(want, cfg.GetRules()[0].GetRequires(), protocmp.Transform()); diff != "" {
		t.Errorf("requirement (-want +got):\n%s", diff)
	}
	p := cfg.GetProviders()["origins-0"]
	if p.GetLocalJwks().GetInlineString() != inlineKeys || p.GetPayloadInMetadata() != "payload" ||
		!cmp.Equal(p.GetNormalizePayloadInMetadata().GetSpaceDelimitedClaims(), []string{"permission", "roles", "scope"}) ||
		p.GetFromHeaders()[0].GetName() != "x-token" {
		t.Errorf("provider = %v", p)
	}
}

// Fetched keys are inlined; until they are, no token verifies; a change
// of keys is a change of the Snapshot.
func TestFetchedKeys(t *testing.T) {
	b := model.NewBuilder()
	b.AddConfig(requestAuthn("istio-system", "mesh", nil,
		&securityv1beta1.JWTRule{Issuer: "https://b.example", JwksUri: "https://b.example/keys"},
		&securityv1beta1.JWTRule{Issuer: "https://a.example/"},
	))
	snap := b.Build()
	if diff := cmp.Diff([]string{"https://a.example/.well-known/openid-configuration", "https://b.example/keys"}, snap.JWKSSources()); diff != "" {
		t.Errorf("sources (-want +got):\n%s", diff)
	}
	keys := func(s *model.Snapshot) []string {
		cfg := filterConfig(t, s, "any", nil)
		// Providers are named in issuer order: a, then b.
		return []string{cfg.GetProviders()["origins-0"].GetLocalJwks().GetInlineString(), cfg.GetProviders()["origins-1"].GetLocalJwks().GetInlineString()}
	}
	if diff := cmp.Diff([]string{authn.UnavailableJWKS, authn.UnavailableJWKS}, keys(snap)); diff != "" {
		t.Errorf("keys before fetching (-want +got):\n%s", diff)
	}
	fetched := snap.WithJWKS(map[string]string{"https://b.example/keys": inlineKeys})
	if diff := cmp.Diff([]string{authn.UnavailableJWKS, inlineKeys}, keys(fetched)); diff != "" {
		t.Errorf("keys after fetching (-want +got):\n%s", diff)
	}
	if fetched.Version == snap.Version {
		t.Error("new keys left the version unchanged")
	}
	d := model.DiffSnapshots(snap, fetched)
	if _, ok := d.JWKS["https://b.example/keys"]; !ok || d.Empty() || d.EndpointsOnly() || d.CredentialsOnly() {
		t.Errorf("diff = %+v, want a JWKS change", d)
	}
	if same := fetched.WithJWKS(map[string]string{"https://b.example/keys": inlineKeys}); same.Version != fetched.Version {
		t.Error("the same keys changed the version")
	}

	cfg := filterConfig(t, snap, "any", nil)
	if n := len(cfg.GetRules()[0].GetRequires().GetRequiresAny().GetRequirements()); n != 3 {
		t.Errorf("two issuers: %d alternatives, want each provider or all-missing-or-valid (3)", n)
	}
}

// Inline keys that are no key set would make Envoy reject the listener:
// they are replaced by keys nobody can sign for.
func TestBadInlineKeys(t *testing.T) {
	for _, doc := range []string{"not json", `{"keys":[]}`, `{"kty":"EC"}`} {
		if got := authn.Keys(model.NewBuilder().Build(), &securityv1beta1.JWTRule{Issuer: "i", Jwks: doc}); got != authn.UnavailableJWKS {
			t.Errorf("inline %q: keys %q, want UnavailableJWKS", doc, got)
		}
	}
	if err := model.CheckJWKS(authn.UnavailableJWKS); err != nil {
		t.Errorf("UnavailableJWKS is no key set: %v", err)
	}
}
