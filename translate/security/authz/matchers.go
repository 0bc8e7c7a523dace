package authz

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	uritemplatev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/path/match/uri_template/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/pilotlight/pilotlight/translate/resource"
)

const spiffePrefix = "spiffe://"

// defaultTrustDomain is the trust domain Istio takes, in policies, to
// mean "this mesh's": principals written with it are rewritten to the
// mesh's trust domain and aliases.
const defaultTrustDomain = "cluster.local"

// expand applies trust domain aliases: a principal in the mesh's trust
// domain (or one of its aliases, or cluster.local) stands for the same
// workload in every one of them, and a trust domain for all of them.
func (b *builder) expand(key string, values []string) []string {
	var out []string
	switch key {
	case attrSrcPrincipal:
		for _, v := range values {
			parts := strings.Split(v, "/")
			if len(parts) != 5 || parts[0] == "*" || (!slices.Contains(b.trustDomains, parts[0]) && parts[0] != defaultTrustDomain) {
				out = append(out, v)
				continue
			}
			for _, td := range b.trustDomains {
				out = append(out, td+"/"+strings.Join(parts[1:], "/"))
			}
		}
	case attrSrcTrustDomain:
		for _, v := range values {
			if slices.Contains(b.trustDomains, v) {
				out = append(out, b.trustDomains...)
			} else {
				out = append(out, v)
			}
		}
	default:
		return values
	}
	seen := map[string]bool{}
	return slices.DeleteFunc(out, func(v string) bool {
		dup := seen[v]
		seen[v] = true
		return dup
	})
}

// checkTarget says why a target cannot check an attribute, or nil.
func (b *builder) checkTarget(key, value string) error {
	httpOnly := key == attrHost || key == attrMethod || key == attrPath ||
		strings.HasPrefix(key, attrRequestHeaders) || strings.HasPrefix(key, "request.auth.")
	switch {
	case b.target == TCP && httpOnly:
		return fmt.Errorf("%s applies to HTTP requests only", keyName(key))
	case b.target == GRPC && strings.HasPrefix(key, "request.auth."):
		return fmt.Errorf("%s needs a verified JWT, and gRPC verifies none", key)
	case b.target == GRPC && key == attrConnSNI:
		return fmt.Errorf("gRPC does not see the SNI")
	case b.target == GRPC && key == attrPath && isPathTemplate(value):
		return fmt.Errorf("gRPC cannot match path templates")
	case b.target == GRPC && strings.HasPrefix(key, attrRequestHeaders):
		name, _ := bracketed(strings.TrimPrefix(key, attrRequestHeaders))
		if n := strings.ToLower(name); n == ":scheme" || strings.HasPrefix(n, "grpc-") {
			return fmt.Errorf("gRPC does not match header %q", name)
		}
	}
	return nil
}

func keyName(key string) string {
	switch key {
	case attrHost:
		return "hosts"
	case attrMethod:
		return "methods"
	case attrPath:
		return "paths"
	}
	return key
}

func (b *builder) principalFor(key, v string) (*rbacv3.Principal, error) {
	if err := b.checkTarget(key, v); err != nil {
		return nil, err
	}
	switch {
	case key == attrSrcPrincipal:
		return authenticated(globMatcher(v, spiffePrefix)), nil
	case key == attrSrcNamespace:
		return authenticated(regexMatcher(".*/ns/" + globRegex(v, ".*") + "/.*")), nil
	case key == attrSrcServiceAccount:
		ns, sa, ok := strings.Cut(v, "/")
		if !ok {
			ns, sa = b.ns, v
		}
		return authenticated(regexMatcher(regexp.QuoteMeta(spiffePrefix) + "[^/]+/ns/" + regexp.QuoteMeta(ns) + "/sa/" + regexp.QuoteMeta(sa))), nil
	case key == attrSrcTrustDomain:
		switch {
		case v == "*":
			return authenticated(prefixMatcher(spiffePrefix)), nil
		case !strings.Contains(v, "*"):
			return authenticated(prefixMatcher(spiffePrefix + v + "/")), nil
		}
		return authenticated(regexMatcher(regexp.QuoteMeta(spiffePrefix) + globRegex(v, "[^/]*") + "/.*")), nil
	case key == attrSrcIP:
		cidr, err := parseCIDR(v)
		if err != nil {
			return nil, err
		}
		return &rbacv3.Principal{Identifier: &rbacv3.Principal_DirectRemoteIp{DirectRemoteIp: cidr}}, nil
	case key == attrRemoteIP:
		cidr, err := parseCIDR(v)
		if err != nil {
			return nil, err
		}
		return &rbacv3.Principal{Identifier: &rbacv3.Principal_RemoteIp{RemoteIp: cidr}}, nil
	case key == attrRequestPrincipal:
		iss, sub := requestPrincipal(v)
		return &rbacv3.Principal{Identifier: &rbacv3.Principal_AndIds{AndIds: &rbacv3.Principal_Set{Ids: []*rbacv3.Principal{
			claimPrincipal([]string{"iss"}, iss, false),
			claimPrincipal([]string{"sub"}, sub, false),
		}}}}, nil
	case key == attrRequestAudiences:
		return claimPrincipal([]string{"aud"}, globMatcher(v, ""), true), nil
	case key == attrRequestPresenter:
		return claimPrincipal([]string{"azp"}, globMatcher(v, ""), true), nil
	case strings.HasPrefix(key, attrRequestClaims+"["):
		claims, err := claimPath(strings.TrimPrefix(key, attrRequestClaims))
		if err != nil {
			return nil, err
		}
		return claimPrincipal(claims, globMatcher(v, ""), true), nil
	case strings.HasPrefix(key, attrRequestHeaders+"["):
		name, err := bracketed(strings.TrimPrefix(key, attrRequestHeaders))
		if err != nil {
			return nil, err
		}
		return &rbacv3.Principal{Identifier: &rbacv3.Principal_Header{Header: headerMatcher(name, v, false)}}, nil
	}
	return nil, fmt.Errorf("unknown attribute %q", key)
}

func (b *builder) permissionFor(key, v string) (*rbacv3.Permission, error) {
	if err := b.checkTarget(key, v); err != nil {
		return nil, err
	}
	switch key {
	case attrHost:
		return &rbacv3.Permission{Rule: &rbacv3.Permission_Header{Header: headerMatcher(":authority", v, true)}}, nil
	case attrMethod:
		return &rbacv3.Permission{Rule: &rbacv3.Permission_Header{Header: headerMatcher(":method", v, false)}}, nil
	case attrPath:
		if isPathTemplate(v) {
			return &rbacv3.Permission{Rule: &rbacv3.Permission_UriTemplate{UriTemplate: &corev3.TypedExtensionConfig{
				Name:        "uri-template",
				TypedConfig: resource.Any(&uritemplatev3.UriTemplateMatchConfig{PathTemplate: pathTemplate.Replace(v)}),
			}}}, nil
		}
		return &rbacv3.Permission{Rule: &rbacv3.Permission_UrlPath{UrlPath: &matcherv3.PathMatcher{
			Rule: &matcherv3.PathMatcher_Path{Path: globMatcher(v, "")},
		}}}, nil
	case attrDestPort:
		port, err := strconv.ParseUint(v, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("port %q is not a number from 0 to 65535", v)
		}
		return &rbacv3.Permission{Rule: &rbacv3.Permission_DestinationPort{DestinationPort: uint32(port)}}, nil
	case attrDestIP:
		cidr, err := parseCIDR(v)
		if err != nil {
			return nil, err
		}
		return &rbacv3.Permission{Rule: &rbacv3.Permission_DestinationIp{DestinationIp: cidr}}, nil
	case attrConnSNI:
		return &rbacv3.Permission{Rule: &rbacv3.Permission_RequestedServerName{RequestedServerName: globMatcher(v, "")}}, nil
	}
	return nil, fmt.Errorf("unknown attribute %q", key)
}

func orIDs(ids []*rbacv3.Principal) *rbacv3.Principal {
	if len(ids) == 1 {
		return ids[0]
	}
	return &rbacv3.Principal{Identifier: &rbacv3.Principal_OrIds{OrIds: &rbacv3.Principal_Set{Ids: ids}}}
}

func orRules(rules []*rbacv3.Permission) *rbacv3.Permission {
	if len(rules) == 1 {
		return rules[0]
	}
	return &rbacv3.Permission{Rule: &rbacv3.Permission_OrRules{OrRules: &rbacv3.Permission_Set{Rules: rules}}}
}

// authenticated matches the peer certificate's identity (its URI SAN).
func authenticated(m *matcherv3.StringMatcher) *rbacv3.Principal {
	return &rbacv3.Principal{Identifier: &rbacv3.Principal_Authenticated_{Authenticated: &rbacv3.Principal_Authenticated{PrincipalName: m}}}
}

// globMatcher implements Istio's one-wildcard values: "*" is any
// non-empty value, "*x" a suffix, "x*" a prefix, anything else exact; the
// value is matched after prefix (spiffe:// for principals).
func globMatcher(v, prefix string) *matcherv3.StringMatcher {
	switch {
	case v == "*":
		return regexMatcher(".+")
	case strings.HasPrefix(v, "*"):
		if prefix == "" {
			return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Suffix{Suffix: v[1:]}}
		}
		return regexMatcher(regexp.QuoteMeta(prefix) + ".*" + regexp.QuoteMeta(v[1:]))
	case strings.HasSuffix(v, "*"):
		return prefixMatcher(prefix + strings.TrimSuffix(v, "*"))
	}
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: prefix + v}}
}

func prefixMatcher(p string) *matcherv3.StringMatcher {
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: p}}
}

func regexMatcher(re string) *matcherv3.StringMatcher {
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: re}}}
}

// globRegex quotes v for a regular expression with each * standing for
// any.
func globRegex(v, wildcard string) string {
	parts := strings.Split(v, "*")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return strings.Join(parts, wildcard)
}

// headerMatcher matches a header with Istio's wildcard rules; "*" means
// the header is present.
func headerMatcher(name, v string, ignoreCase bool) *routev3.HeaderMatcher {
	if v == "*" {
		return &routev3.HeaderMatcher{Name: name, HeaderMatchSpecifier: &routev3.HeaderMatcher_PresentMatch{PresentMatch: true}}
	}
	m := globMatcher(v, "")
	m.IgnoreCase = ignoreCase
	return &routev3.HeaderMatcher{Name: name, HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: m}}
}

// pathTemplate turns Istio's {*} and {**} path segments into Envoy URI
// template operators.
var pathTemplate = strings.NewReplacer("{*}", "*", "{**}", "**")

func isPathTemplate(v string) bool {
	return strings.Contains(v, "{*}") || strings.Contains(v, "{**}")
}

func parseCIDR(v string) (*corev3.CidrRange, error) {
	if p, err := netip.ParsePrefix(v); err == nil {
		return &corev3.CidrRange{AddressPrefix: p.Addr().String(), PrefixLen: wrapperspb.UInt32(uint32(p.Bits()))}, nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return nil, fmt.Errorf("%q is neither an IP address nor a CIDR block", v)
	}
	return &corev3.CidrRange{AddressPrefix: a.String(), PrefixLen: wrapperspb.UInt32(uint32(a.BitLen()))}, nil
}

// requestPrincipal splits ISSUER/SUBJECT at the last slash (issuers are
// often URLs) into matchers, with * standing for any issuer or subject, a
// leading * for an issuer (or, without a slash, a subject) suffix and a
// trailing * for a subject (or issuer) prefix.
func requestPrincipal(v string) (iss, sub *matcherv3.StringMatcher) {
	anyValue := regexMatcher(".+")
	exact := func(s string) *matcherv3.StringMatcher {
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: s}}
	}
	i := strings.LastIndex(v, "/")
	hasSlash := i >= 0
	issuer, subject := v, ""
	if hasSlash {
		issuer, subject = v[:i], v[i+1:]
	}
	switch {
	case v == "*":
		return anyValue, anyValue
	case strings.HasPrefix(v, "*") && hasSlash:
		if issuer == "*" {
			return anyValue, exact(subject)
		}
		return globMatcher(issuer, ""), exact(subject)
	case strings.HasPrefix(v, "*"):
		return anyValue, globMatcher(v, "")
	case strings.HasSuffix(v, "*") && hasSlash:
		if subject == "*" {
			return exact(issuer), anyValue
		}
		return exact(issuer), globMatcher(subject, "")
	case strings.HasSuffix(v, "*"):
		return globMatcher(v, ""), anyValue
	}
	return exact(issuer), exact(subject)
}

// claimPrincipal matches a claim of the verified token that jwt_authn
// wrote to its metadata. List claims (aud, groups) match when any element
// does, when list is set.
func claimPrincipal(path []string, m *matcherv3.StringMatcher, list bool) *rbacv3.Principal {
	segs := []*matcherv3.MetadataMatcher_PathSegment{{Segment: &matcherv3.MetadataMatcher_PathSegment_Key{Key: JWTPayloadMetadata}}}
	for _, k := range path {
		segs = append(segs, &matcherv3.MetadataMatcher_PathSegment{Segment: &matcherv3.MetadataMatcher_PathSegment_Key{Key: k}})
	}
	value := &matcherv3.ValueMatcher{MatchPattern: &matcherv3.ValueMatcher_StringMatch{StringMatch: m}}
	if list {
		value = &matcherv3.ValueMatcher{MatchPattern: &matcherv3.ValueMatcher_OrMatch{OrMatch: &matcherv3.OrMatcher{ValueMatchers: []*matcherv3.ValueMatcher{
			{MatchPattern: &matcherv3.ValueMatcher_ListMatch{ListMatch: &matcherv3.ListMatcher{MatchPattern: &matcherv3.ListMatcher_OneOf{OneOf: value}}}},
			value,
		}}}}
	}
	// metadata, deprecated for sourced_metadata, is what every Envoy that
	// istiod configures understands; istiod still writes it.
	return &rbacv3.Principal{Identifier: &rbacv3.Principal_Metadata{Metadata: &matcherv3.MetadataMatcher{ //nolint:staticcheck // see above
		Filter: JWTFilterName, Path: segs, Value: value,
	}}}
}

// bracketed reads "[NAME]".
func bracketed(s string) (string, error) {
	name, ok := strings.CutPrefix(s, "[")
	if name, ok2 := strings.CutSuffix(name, "]"); ok && ok2 && name != "" {
		return name, nil
	}
	return "", fmt.Errorf("want [NAME] after the attribute, got %q", s)
}

// claimPath reads "[a][b]" (a nested claim) or "[a.b]" (one claim whose
// name has dots).
func claimPath(s string) ([]string, error) {
	var out []string
	rest := s
	for rest != "" {
		end := strings.IndexByte(rest, ']')
		if !strings.HasPrefix(rest, "[") || end < 2 || strings.Contains(rest[1:end], "[") {
			name, err := bracketed(s)
			if err != nil {
				return nil, err
			}
			return []string{name}, nil
		}
		out = append(out, rest[1:end])
		rest = rest[end+1:]
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("want [CLAIM] after the attribute, got %q", s)
	}
	return out, nil
}
