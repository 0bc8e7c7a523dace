package analyze

import (
	"fmt"
	"slices"

	securityv1beta1 "istio.io/api/security/v1beta1"

	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/security/authz"
)

// authorizationPolicies reports what of each AuthorizationPolicy is not
// enforced where it applies: conditions no target can check (unknown
// attributes, malformed values), conditions Envoy's TCP filter or gRPC's
// cannot check, CUSTOM providers that do not resolve, and what proxyless
// gRPC servers leave out or deny instead.
func authorizationPolicies(snap *model.Snapshot) []model.Problem {
	var out []model.Problem
	for _, c := range snap.Configs(model.KindAuthorizationPolicy) {
		spec := authz.AsAuthorizationPolicy(c)
		if spec.GetTargetRef() != nil || len(spec.GetTargetRefs()) > 0 {
			out = append(out, finding(c, CodeNotTranslated, "spec.targetRefs", "use spec.selector to apply the policy to workloads",
				"targetRef binds gateways and waypoints, which pilotlight does not configure with authorization policies: the policy applies to no workload"))
			continue
		}
		httpDrops := authz.Unenforced(snap, c, authz.HTTP)
		for _, u := range httpDrops {
			out = append(out, finding(c, CodeNotTranslated, u.Field, "", "%s", u.Reason))
		}
		for _, t := range []authz.Target{authz.TCP, authz.GRPC} {
			code := CodeNotTranslated
			if t == authz.GRPC {
				code = CodeNotForGRPC
			}
			for _, u := range authz.Unenforced(snap, c, t) {
				if !slices.ContainsFunc(httpDrops, func(h authz.Unenforceable) bool { return h.Field == u.Field }) {
					out = append(out, finding(c, code, u.Field, "", "on %s: %s", t, u.Reason))
				}
			}
		}
		dryRun := c.Annotations[authz.DryRunAnnotation] == "true"
		switch spec.GetAction() {
		case securityv1beta1.AuthorizationPolicy_CUSTOM:
			if err := authz.CheckProvider(snap, spec.GetProvider().GetName()); err != nil {
				out = append(out, finding(c, CodeNotTranslated, "spec.provider.name", "define the provider in the mesh config's extensionProviders",
					"%v: the requests the policy matches are denied", err))
			}
			out = append(out, finding(c, CodeNotForGRPC, "spec.action", "",
				"proxyless gRPC servers cannot call an ext_authz provider: the requests the policy matches are denied"))
			if authz.HTTPOnlyProvider(snap, spec.GetProvider().GetName()) {
				out = append(out, finding(c, CodeNotTranslated, "spec.provider.name", "use an envoyExtAuthzGrpc provider to check TCP connections too",
					"an HTTP ext_authz provider cannot check TCP connections: on TCP ports the policy is not enforced, as in Istio"))
			}
			if dryRun {
				out = append(out, finding(c, CodeNotTranslated, "metadata.annotations", "",
					"dry-run is not supported for CUSTOM policies: the policy is enforced"))
			}
		case securityv1beta1.AuthorizationPolicy_AUDIT:
			out = append(out, finding(c, CodeNotForGRPC, "spec.action", "", "proxyless gRPC servers do not log: AUDIT policies are left out"))
		default:
			if dryRun {
				out = append(out, finding(c, CodeNotForGRPC, "metadata.annotations", "", "proxyless gRPC servers do not log: dry-run policies are left out"))
			}
		}
	}
	return out
}

// requestAuthentications reports what of each RequestAuthentication is
// not carried out: targetRefs, inline keys that are no key set, and
// everything on proxyless gRPC servers, which verify no tokens.
func requestAuthentications(snap *model.Snapshot) []model.Problem {
	var out []model.Problem
	for _, c := range snap.Configs(model.KindRequestAuthentication) {
		spec := model.AsRequestAuthentication(c)
		if spec.GetTargetRef() != nil || len(spec.GetTargetRefs()) > 0 {
			out = append(out, finding(c, CodeNotTranslated, "spec.targetRefs", "use spec.selector to apply the policy to workloads",
				"targetRef binds gateways and waypoints, which pilotlight does not configure with request authentication: the policy applies to no workload"))
			continue
		}
		out = append(out, finding(c, CodeNotForGRPC, "spec.jwtRules", "",
			"proxyless gRPC servers verify no JWTs: tokens are not checked there, and AuthorizationPolicy conditions on them cannot be enforced (see those policies' findings)"))
		for i, r := range spec.GetJwtRules() {
			if r.GetJwks() == "" {
				continue
			}
			if err := model.CheckJWKS(r.GetJwks()); err != nil {
				out = append(out, finding(c, CodeNotTranslated, fmt.Sprintf("spec.jwtRules[%d].jwks", i), "inline a JWKS document ({\"keys\": [...]}) or use jwksUri",
					"%v: no token of this issuer verifies", err))
			}
		}
	}
	return out
}
