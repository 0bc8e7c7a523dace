package parity

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// routeFacts records a route table: each virtual host keyed by its
// service's host, each route by its position (Envoy takes the first that
// matches).
func routeFacts(f facts, key string, rc *routev3.RouteConfiguration) {
	f.fields(key, rc, "virtual_hosts")
	for _, vh := range rc.GetVirtualHosts() {
		vkey := key + " vhost " + hostOf(vh.GetDomains())
		f.add(vkey+" domains", "["+strings.Join(hostsOf(vh.GetDomains()), ", ")+"]")
		f.fields(vkey, vh, "domains", "routes", "typed_per_filter_config")
		perFilterFacts(f, vkey, vh.GetTypedPerFilterConfig())
		for i, r := range vh.GetRoutes() {
			routeEntryFacts(f, fmt.Sprintf("%s route#%d", vkey, i), normalizeRoute(r))
		}
	}
}

// hostOf names a virtual host by the longest of its domains without a
// port or a trailing dot: a service's FQDN, a gateway's host, or "*".
func hostOf(domains []string) string {
	best := ""
	for _, d := range domains {
		if i := strings.LastIndex(d, ":"); i > 0 && !strings.HasSuffix(d, "]") {
			d = d[:i]
		}
		d = strings.TrimSuffix(d, ".")
		if len(d) > len(best) {
			best = d
		}
	}
	return best
}

// hostsOf lists the hosts a virtual host's domains match, sorted and
// without ports: a table either lists each host with and without its
// port or tells Envoy to ignore the port (ignore_port_in_host_matching,
// which is a fact of its own), and both match the same requests.
func hostsOf(domains []string) []string {
	seen := map[string]bool{}
	for _, d := range domains {
		if i := strings.LastIndex(d, ":"); i > 0 && !strings.HasSuffix(d, "]") {
			d = d[:i]
		}
		seen[d] = true
	}
	return slices.Sorted(maps.Keys(seen))
}

// routeEntryFacts records one route: its match, its action field by
// field, and its other settings (headers, per-filter configs).
func routeEntryFacts(f facts, key string, r *routev3.Route) {
	f.add(key+" match", text(r.GetMatch()))
	switch {
	case r.GetRoute() != nil:
		f.fields(key+" route", r.GetRoute())
	case r.GetRedirect() != nil:
		f.add(key+" redirect", text(r.GetRedirect()))
	case r.GetDirectResponse() != nil:
		f.add(key+" direct_response", text(r.GetDirectResponse()))
	default:
		f.add(key+" action", "none")
	}
	f.fields(key, r, "match", "route", "redirect", "direct_response", "typed_per_filter_config")
	perFilterFacts(f, key, r.GetTypedPerFilterConfig())
}

// perFilterFacts records per-filter configs keyed by their type (the map's
// keys are filter names, which are free), telemetry left out.
func perFilterFacts(f facts, key string, pfc map[string]*anypb.Any) {
	for _, name := range slices.Sorted(maps.Keys(pfc)) {
		if isTelemetry(name, pfc[name]) {
			continue
		}
		f.add(key+" per_filter "+shortType(pfc[name]), text(normalizePerFilter(pfc[name])))
	}
}

// normalizeRoute rewrites, on a copy, what Envoy reads alike but can be
// written two ways: a case-sensitive match said or left to the default;
// header matchers in their deprecated forms; a hash policy repeated;
// retry conditions in any order, and a host selection limit without a
// host predicate; weighted clusters in any order, with or without a
// total; the
// gRPC timeout cap as the deprecated max_grpc_timeout or in
// max_stream_duration, whose zero max_stream_duration means no cap, as
// leaving it out does when the connection manager sets none (neither
// side's does: see the hcm facts).
func normalizeRoute(r *routev3.Route) *routev3.Route {
	r = proto.Clone(r).(*routev3.Route)
	if m := r.GetMatch(); m.GetCaseSensitive() != nil && m.GetCaseSensitive().GetValue() {
		m.CaseSensitive = nil
	}
	for _, h := range r.GetMatch().GetHeaders() {
		normalizeHeaderMatcher(h)
	}
	a := r.GetRoute()
	if a == nil {
		return r
	}
	// Envoy hashes a request on every policy in turn; the same policy
	// twice picks the same host for the same request as once.
	var hashes []*routev3.RouteAction_HashPolicy
	for _, h := range a.GetHashPolicy() {
		if !slices.ContainsFunc(hashes, func(o *routev3.RouteAction_HashPolicy) bool { return proto.Equal(o, h) }) {
			hashes = append(hashes, h)
		}
	}
	a.HashPolicy = hashes
	if rp := a.GetRetryPolicy(); rp != nil {
		on := strings.Split(rp.GetRetryOn(), ",")
		slices.Sort(on)
		rp.RetryOn = strings.Join(on, ",")
		// Host selection is retried only when a host predicate rejects
		// a host; without one the limit is never read.
		if len(rp.GetRetryHostPredicate()) == 0 {
			rp.HostSelectionRetryMaxAttempts = 0
		}
	}
	if wc := a.GetWeightedClusters(); wc != nil {
		slices.SortFunc(wc.Clusters, func(a, b *routev3.WeightedCluster_ClusterWeight) int {
			return strings.Compare(a.GetName(), b.GetName())
		})
		wc.TotalWeight = nil //nolint:staticcheck // Deprecated, and read alike when it is the sum.
	}
	//nolint:staticcheck // The deprecated field is what istiod sends.
	if t := a.GetMaxGrpcTimeout(); t != nil {
		if a.MaxStreamDuration == nil {
			a.MaxStreamDuration = &routev3.RouteAction_MaxStreamDuration{}
		}
		a.MaxStreamDuration.GrpcTimeoutHeaderMax = t
		a.MaxGrpcTimeout = nil
	}
	if msd := a.GetMaxStreamDuration(); msd != nil {
		if d := msd.GetMaxStreamDuration(); d != nil && d.AsDuration() == 0 {
			msd.MaxStreamDuration = nil
		}
		if proto.Size(msd) == 0 {
			a.MaxStreamDuration = nil
		}
	}
	return r
}

// normalizePerFilter rewrites, on a copy, per-filter settings Envoy reads
// alike: a CORS policy enabled for 100% of requests, or forwarding
// preflights that match no origin, says what leaving them out means.
func normalizePerFilter(a *anypb.Any) proto.Message {
	m, err := a.UnmarshalNew()
	if err != nil {
		return a
	}
	if c, ok := m.(*corsv3.CorsPolicy); ok {
		if fe := c.GetFilterEnabled().GetDefaultValue(); fe != nil && percent(fe.ProtoReflect()) == "100%" && c.GetFilterEnabled().GetRuntimeKey() == "" {
			c.FilterEnabled = nil
		}
		if f := c.GetForwardNotMatchingPreflights(); f != nil && f.GetValue() {
			c.ForwardNotMatchingPreflights = nil
		}
	}
	return m
}

// normalizeHeaderMatcher turns the deprecated exact/prefix/suffix/
// contains/regex forms into the string_match Envoy reads them as.
//
//nolint:staticcheck // The deprecated forms are what is being read.
func normalizeHeaderMatcher(h *routev3.HeaderMatcher) {
	var sm *matcherv3.StringMatcher
	switch m := h.GetHeaderMatchSpecifier().(type) {
	case *routev3.HeaderMatcher_ExactMatch:
		sm = &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: m.ExactMatch}}
	case *routev3.HeaderMatcher_PrefixMatch:
		sm = &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: m.PrefixMatch}}
	case *routev3.HeaderMatcher_SuffixMatch:
		sm = &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Suffix{Suffix: m.SuffixMatch}}
	case *routev3.HeaderMatcher_ContainsMatch:
		sm = &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Contains{Contains: m.ContainsMatch}}
	case *routev3.HeaderMatcher_SafeRegexMatch:
		sm = &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: m.SafeRegexMatch}}
	default:
		return
	}
	h.HeaderMatchSpecifier = &routev3.HeaderMatcher_StringMatch{StringMatch: sm}
}
