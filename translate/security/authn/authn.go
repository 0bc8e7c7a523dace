// Package authn translates Istio RequestAuthentications into Envoy's
// jwt_authn filter for a sidecar's inbound HTTP connection managers, with
// Istio's semantics: a request that carries a token must carry a valid
// one from some selected issuer (else Envoy answers 401), a request
// without a token passes, and the claims of a verified token are left in
// the filter's metadata under "payload", where AuthorizationPolicy
// conditions (requestPrincipals, request.auth.*) read them. Requiring a
// token is an AuthorizationPolicy's job.
//
// Keys are always inlined (local_jwks), as istiod does: a rule's own jwks,
// or the key set pilotlight fetched from its jwksUri (or its issuer's
// OpenID discovery document) and put in the Snapshot. Until keys are
// fetched, a key set nobody holds the private key of stands in, so every
// token fails rather than passes.
//
// Like all of translate, this package is pure.
package authn

import (
	"cmp"
	"fmt"
	"slices"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	jwtauthnv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/emptypb"
	securityv1beta1 "istio.io/api/security/v1beta1"

	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/resource"
	"github.com/pilotlight/pilotlight/translate/security/authz"
)

// UnavailableJWKS stands in for keys that could not be fetched: a P-256
// public key whose private half was discarded when it was made, so no
// token verifies against it.
const UnavailableJWKS = `{"keys":[{"kty":"EC","crv":"P-256","alg":"ES256","use":"sig","kid":"pilotlight-unavailable",` +
	`"x":"JGi-pB7ISUaeqAyUISGzjyuM5MJFF_rxzjuAHF8vZXE","y":"hF6fhByuRHo4BX7jV0YkEFA9n6VZEaD3uxUD5bUzjTc"}]}`

// spaceDelimitedClaims are always split into lists in the metadata, as
// istiod does, so that request.auth.claims[scope] matches one scope.
var spaceDelimitedClaims = []string{"permission", "scope"}

// Rules returns the JWT rules that apply to a workload in namespace ns
// with labels, from every selected RequestAuthentication, sorted by
// issuer.
func Rules(snap *model.Snapshot, ns string, labels map[string]string) []*securityv1beta1.JWTRule {
	var out []*securityv1beta1.JWTRule
	for _, c := range snap.WorkloadPoliciesFor(model.KindRequestAuthentication, ns, labels) {
		out = append(out, model.AsRequestAuthentication(c).GetJwtRules()...)
	}
	slices.SortStableFunc(out, func(a, b *securityv1beta1.JWTRule) int { return cmp.Compare(a.GetIssuer(), b.GetIssuer()) })
	return out
}

// HTTPFilter is the jwt_authn filter for a workload, or nil when no
// RequestAuthentication selects it.
func HTTPFilter(snap *model.Snapshot, ns string, labels map[string]string) *hcmv3.HttpFilter {
	rules := Rules(snap, ns, labels)
	if len(rules) == 0 {
		return nil
	}
	cfg := &jwtauthnv3.JwtAuthentication{Providers: map[string]*jwtauthnv3.JwtProvider{}, BypassCorsPreflight: true}
	// Each provider verifies the token it finds, or lets a request without
	// one through; with several, a request passes when some provider
	// verifies its token or when none finds one.
	var each, orMissing []*jwtauthnv3.JwtRequirement
	for i, r := range rules {
		name := fmt.Sprintf("origins-%d", i)
		cfg.Providers[name] = provider(snap, r)
		byName := &jwtauthnv3.JwtRequirement{RequiresType: &jwtauthnv3.JwtRequirement_ProviderName{ProviderName: name}}
		each = append(each, byName)
		orMissing = append(orMissing, anyOf(byName, &jwtauthnv3.JwtRequirement{RequiresType: &jwtauthnv3.JwtRequirement_AllowMissing{AllowMissing: &emptypb.Empty{}}}))
	}
	requires := orMissing[0]
	if len(rules) > 1 {
		requires = anyOf(append(each, &jwtauthnv3.JwtRequirement{RequiresType: &jwtauthnv3.JwtRequirement_RequiresAll{
			RequiresAll: &jwtauthnv3.JwtRequirementAndList{Requirements: orMissing},
		}})...)
	}
	cfg.Rules = []*jwtauthnv3.RequirementRule{{
		Match:           &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
		RequirementType: &jwtauthnv3.RequirementRule_Requires{Requires: requires},
	}}
	return &hcmv3.HttpFilter{Name: authz.JWTFilterName, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: resource.Any(cfg)}}
}

func anyOf(rs ...*jwtauthnv3.JwtRequirement) *jwtauthnv3.JwtRequirement {
	return &jwtauthnv3.JwtRequirement{RequiresType: &jwtauthnv3.JwtRequirement_RequiresAny{
		RequiresAny: &jwtauthnv3.JwtRequirementOrList{Requirements: rs},
	}}
}

func provider(snap *model.Snapshot, r *securityv1beta1.JWTRule) *jwtauthnv3.JwtProvider {
	p := &jwtauthnv3.JwtProvider{
		Issuer:               r.GetIssuer(),
		Audiences:            r.GetAudiences(),
		Forward:              r.GetForwardOriginalToken(),
		ForwardPayloadHeader: r.GetOutputPayloadToHeader(),
		FromParams:           r.GetFromParams(),
		FromCookies:          r.GetFromCookies(),
		PayloadInMetadata:    authz.JWTPayloadMetadata,
		NormalizePayloadInMetadata: &jwtauthnv3.JwtProvider_NormalizePayload{
			SpaceDelimitedClaims: slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(spaceDelimitedClaims), r.GetSpaceDelimitedClaims()...)))),
		},
		JwksSourceSpecifier: &jwtauthnv3.JwtProvider_LocalJwks{LocalJwks: &corev3.DataSource{
			Specifier: &corev3.DataSource_InlineString{InlineString: Keys(snap, r)},
		}},
	}
	for _, h := range r.GetFromHeaders() {
		p.FromHeaders = append(p.FromHeaders, &jwtauthnv3.JwtHeader{Name: h.GetName(), ValuePrefix: h.GetPrefix()})
	}
	for _, c := range r.GetOutputClaimToHeaders() {
		p.ClaimToHeaders = append(p.ClaimToHeaders, &jwtauthnv3.JwtClaimToHeader{HeaderName: c.GetHeader(), ClaimName: c.GetClaim()})
	}
	return p
}

// Keys is the key set a rule verifies tokens with: its own, the one
// fetched from its source, or UnavailableJWKS (also in place of inline
// keys that are no key set, which Envoy would reject).
func Keys(snap *model.Snapshot, r *securityv1beta1.JWTRule) string {
	if r.GetJwks() != "" {
		if model.CheckJWKS(r.GetJwks()) != nil {
			return UnavailableJWKS
		}
		return r.GetJwks()
	}
	if keys, ok := snap.JWKS(model.JWKSSource(r)); ok && keys != "" {
		return keys
	}
	return UnavailableJWKS
}
