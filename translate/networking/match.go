package networking

import (
	"cmp"
	"maps"
	"slices"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
)

// routeMatch turns one Istio match into an Envoy RouteMatch. An empty
// match (or none) is prefix "/". ok is false when the match uses
// something the target cannot express, in which case the route must be
// left out rather than widened.
func routeMatch(m *networkingv1alpha3.HTTPMatchRequest, t Target) (out *routev3.RouteMatch, ok bool) {
	out = &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}}
	if m == nil {
		return out, true
	}
	switch u := m.GetUri().GetMatchType().(type) {
	case *networkingv1alpha3.StringMatch_Exact:
		out.PathSpecifier = &routev3.RouteMatch_Path{Path: u.Exact}
	case *networkingv1alpha3.StringMatch_Prefix:
		out.PathSpecifier = &routev3.RouteMatch_Prefix{Prefix: u.Prefix}
	case *networkingv1alpha3.StringMatch_Regex:
		out.PathSpecifier = &routev3.RouteMatch_SafeRegex{SafeRegex: regex(u.Regex)}
	}
	if m.GetIgnoreUriCase() {
		out.CaseSensitive = wrapperspb.Bool(false)
	}
	// Pseudo-headers carry the method, authority and scheme.
	for name, sm := range map[string]*networkingv1alpha3.StringMatch{
		":method": m.GetMethod(), ":authority": m.GetAuthority(), ":scheme": m.GetScheme(),
	} {
		if sm != nil {
			if t == GRPC && name == ":scheme" {
				return nil, false // gRPC cannot match on the scheme (Analyze: unsupported-for-grpc).
			}
			out.Headers = append(out.Headers, headerMatcher(name, sm, false))
		}
	}
	for name, sm := range m.GetHeaders() {
		out.Headers = append(out.Headers, headerMatcher(strings.ToLower(name), sm, false))
	}
	for name, sm := range m.GetWithoutHeaders() {
		out.Headers = append(out.Headers, headerMatcher(strings.ToLower(name), sm, true))
	}
	slices.SortFunc(out.Headers, func(a, b *routev3.HeaderMatcher) int {
		return cmp.Or(cmp.Compare(a.GetName(), b.GetName()), cmp.Compare(boolInt(a.GetInvertMatch()), boolInt(b.GetInvertMatch())))
	})
	if len(m.GetQueryParams()) > 0 {
		if t == GRPC {
			return nil, false // gRPC ignores routes with query matches (Analyze: unsupported-for-grpc).
		}
		for _, name := range slices.Sorted(maps.Keys(m.GetQueryParams())) {
			out.QueryParameters = append(out.QueryParameters, queryMatcher(name, m.GetQueryParams()[name]))
		}
	}
	return out, true
}

// headerMatcher: an empty StringMatch means "the header is present".
func headerMatcher(name string, sm *networkingv1alpha3.StringMatch, invert bool) *routev3.HeaderMatcher {
	h := &routev3.HeaderMatcher{Name: name, InvertMatch: invert}
	if s := stringMatcher(sm); s != nil {
		h.HeaderMatchSpecifier = &routev3.HeaderMatcher_StringMatch{StringMatch: s}
	} else {
		h.HeaderMatchSpecifier = &routev3.HeaderMatcher_PresentMatch{PresentMatch: true}
	}
	return h
}

func queryMatcher(name string, sm *networkingv1alpha3.StringMatch) *routev3.QueryParameterMatcher {
	q := &routev3.QueryParameterMatcher{Name: name}
	if s := stringMatcher(sm); s != nil {
		q.QueryParameterMatchSpecifier = &routev3.QueryParameterMatcher_StringMatch{StringMatch: s}
	} else {
		q.QueryParameterMatchSpecifier = &routev3.QueryParameterMatcher_PresentMatch{PresentMatch: true}
	}
	return q
}

func stringMatcher(sm *networkingv1alpha3.StringMatch) *matcherv3.StringMatcher {
	switch m := sm.GetMatchType().(type) {
	case *networkingv1alpha3.StringMatch_Exact:
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: m.Exact}}
	case *networkingv1alpha3.StringMatch_Prefix:
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: m.Prefix}}
	case *networkingv1alpha3.StringMatch_Regex:
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: regex(m.Regex)}}
	}
	return nil
}

// regex: Envoy's RE2 engine, the only one it supports (and gRPC's).
func regex(r string) *matcherv3.RegexMatcher {
	return &matcherv3.RegexMatcher{Regex: r}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
