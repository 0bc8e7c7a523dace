package model

import (
	"cmp"
	"maps"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
)

// Delegation: an HTTP rule of a root VirtualService (one with hosts) may
// name a delegate VirtualService (one without hosts) instead of routing
// itself. The delegate's HTTP rules then take the root rule's place, in
// order, each narrowed by the root rule's matches and inheriting the root
// rule's settings it does not set itself, as Istio merges them. Only one
// level of delegation exists: a delegate's own delegate rules are
// dropped.
//
// The merge happens once per Snapshot, so every generator (sidecars,
// gateways, proxyless clients) sees root VirtualServices with their
// delegates already inlined and never has to know delegation exists.

// DelegateReason says why (part of) a delegation is not applied.
type DelegateReason int

const (
	// DelegateNotFound: no VirtualService without hosts has that name.
	DelegateNotFound DelegateReason = iota + 1
	// DelegateNotExported: the delegate's exportTo hides it from the
	// root's namespace.
	DelegateNotExported
	// DelegateConflict: a delegate rule's match is not within any of the
	// root rule's matches, so the delegate rule is dropped.
	DelegateConflict
	// DelegateNested: a delegate rule delegates again.
	DelegateNested
)

// DelegateIssue is one part of a delegation that is not applied.
type DelegateIssue struct {
	// Rule is the index of the root's HTTP rule that delegates.
	Rule int
	// Delegate is the VirtualService the rule names.
	Delegate ConfigKey
	// DelegateRule is the index of the delegate's HTTP rule that is
	// dropped, or -1 when the whole delegate is.
	DelegateRule int
	Reason       DelegateReason
}

// isRoot reports whether a VirtualService delegates some of its rules.
func isRoot(vs *networkingv1alpha3.VirtualService) bool {
	for _, r := range vs.GetHttp() {
		if r.GetDelegate() != nil {
			return true
		}
	}
	return false
}

// IsDelegate reports whether a VirtualService is a delegate: it has no
// hosts of its own and routes only what a root hands it.
func IsDelegate(c *Config) bool { return len(AsVirtualService(c).GetHosts()) == 0 }

// routableVirtualServices returns the VirtualServices that route hosts,
// with the rules of their delegates merged in; delegates themselves are
// left out. Called by Build once the configs are sorted.
func (s *Snapshot) routableVirtualServices() []*Config {
	var out []*Config
	for _, c := range s.configs[KindVirtualService] {
		switch vs := AsVirtualService(c); {
		case len(vs.GetHosts()) == 0:
		case !isRoot(vs):
			out = append(out, c)
		default:
			merged, _ := s.MergeDelegates(c)
			out = append(out, &Config{
				Kind: c.Kind, Name: c.Name, Namespace: c.Namespace, Labels: c.Labels,
				Annotations: c.Annotations, Generation: c.Generation, Spec: merged,
			})
		}
	}
	return out
}

// MergeDelegates returns a root VirtualService's spec with each delegating
// HTTP rule replaced by its delegate's rules, and what could not be
// merged. Hosts and gateway names in the merged rules are resolved where
// they were written (a delegate's in the delegate's namespace), so the
// result reads correctly in the root's namespace.
func (s *Snapshot) MergeDelegates(root *Config) (*networkingv1alpha3.VirtualService, []DelegateIssue) {
	spec := proto.Clone(AsVirtualService(root)).(*networkingv1alpha3.VirtualService)
	var issues []DelegateIssue
	var rules []*networkingv1alpha3.HTTPRoute
	for i, rule := range spec.GetHttp() {
		ref := rule.GetDelegate()
		if ref == nil {
			rules = append(rules, rule)
			continue
		}
		key := ConfigKey{Kind: KindVirtualService, Namespace: cmp.Or(ref.GetNamespace(), root.Namespace), Name: ref.GetName()}
		issue := func(j int, r DelegateReason) {
			issues = append(issues, DelegateIssue{Rule: i, Delegate: key, DelegateRule: j, Reason: r})
		}
		d := s.configByKey[key]
		if d == nil || !IsDelegate(d) {
			issue(-1, DelegateNotFound)
			continue
		}
		dvs := AsVirtualService(d)
		if !visibleTo(dvs.GetExportTo(), d.Namespace, root.Namespace) {
			issue(-1, DelegateNotExported)
			continue
		}
		resolveMatchGateways(rule, root.Namespace)
		for j, leaf := range dvs.GetHttp() {
			if leaf.GetDelegate() != nil {
				issue(j, DelegateNested)
				continue
			}
			leaf = proto.Clone(leaf).(*networkingv1alpha3.HTTPRoute)
			s.resolveRuleHosts(leaf, d.Namespace)
			resolveMatchGateways(leaf, d.Namespace)
			merged, ok := mergeHTTPRule(rule, leaf)
			if !ok {
				issue(j, DelegateConflict)
				continue
			}
			rules = append(rules, merged)
		}
	}
	spec.Http = rules
	return spec, issues
}

// resolveRuleHosts writes a rule's destination hosts as hostnames, so
// that they keep meaning what they meant in namespace ns.
func (s *Snapshot) resolveRuleHosts(r *networkingv1alpha3.HTTPRoute, ns string) {
	resolve := func(d *networkingv1alpha3.Destination) {
		if d != nil {
			d.Host = s.ResolveConfigHost(d.GetHost(), ns)
		}
	}
	for _, d := range r.GetRoute() {
		resolve(d.GetDestination())
	}
	resolve(r.GetMirror())
	for _, m := range r.GetMirrors() {
		resolve(m.GetDestination())
	}
}

// resolveMatchGateways writes the gateways a rule's matches name as
// NAMESPACE/NAME.
func resolveMatchGateways(r *networkingv1alpha3.HTTPRoute, ns string) {
	for _, m := range r.GetMatch() {
		for i, g := range m.GetGateways() {
			m.Gateways[i] = ResolveGatewayName(g, ns)
		}
	}
}

// mergeHTTPRule narrows a delegate rule (owned by the caller) by its root
// rule: its matches are intersected with the root's, and the root's
// settings fill what it leaves unset. ok is false when some delegate
// match lies outside every root match.
func mergeHTTPRule(root, leaf *networkingv1alpha3.HTTPRoute) (*networkingv1alpha3.HTTPRoute, bool) {
	matches, ok := mergeMatches(root.GetMatch(), leaf.GetMatch())
	if !ok {
		return nil, false
	}
	leaf.Match = matches
	leaf.Name = joinNames(root.GetName(), leaf.GetName())
	fill(&leaf.Rewrite, root.Rewrite)
	fill(&leaf.DirectResponse, root.DirectResponse)
	fill(&leaf.Timeout, root.Timeout)
	fill(&leaf.Retries, root.Retries)
	fill(&leaf.Fault, root.Fault)
	fill(&leaf.Mirror, root.Mirror)
	fill(&leaf.MirrorPercent, root.MirrorPercent) //nolint:staticcheck // Istio still accepts the deprecated field; users rely on it.
	fill(&leaf.MirrorPercentage, root.MirrorPercentage)
	fill(&leaf.CorsPolicy, root.CorsPolicy)
	fill(&leaf.Headers, root.Headers)
	if leaf.Mirrors == nil {
		leaf.Mirrors = root.Mirrors
	}
	return leaf, true
}

// fill sets *dst to v when *dst is unset. The root's messages are shared
// with the merged rule, which is never mutated afterwards.
func fill[T any](dst **T, v *T) {
	if *dst == nil {
		*dst = v
	}
}

// joinNames names a merged rule or match after both of its parts.
func joinNames(root, leaf string) string {
	if root == "" || leaf == "" {
		return root + leaf
	}
	return root + "-" + leaf
}

// mergeMatches intersects a delegate rule's matches with its root rule's:
// every delegate match must lie within some root match and yields one
// merged match per root match it lies within. No matches on either side
// means "everything", so the other side's matches stand.
func mergeMatches(root, leaf []*networkingv1alpha3.HTTPMatchRequest) ([]*networkingv1alpha3.HTTPMatchRequest, bool) {
	if len(root) == 0 {
		return leaf, true
	}
	if len(leaf) == 0 {
		return root, true
	}
	var out []*networkingv1alpha3.HTTPMatchRequest
	for _, l := range leaf {
		found := false
		for _, r := range root {
			if within(r, l) {
				out = append(out, mergeMatch(r, l))
				found = true
			}
		}
		if !found {
			return nil, false
		}
	}
	return out, true
}

// mergeMatch is the delegate's match with the root's conditions added
// wherever the delegate sets none (for maps: keys it does not name).
func mergeMatch(root, leaf *networkingv1alpha3.HTTPMatchRequest) *networkingv1alpha3.HTTPMatchRequest {
	out := proto.Clone(leaf).(*networkingv1alpha3.HTTPMatchRequest)
	out.Name = joinNames(root.GetName(), leaf.GetName())
	fill(&out.Uri, root.Uri)
	fill(&out.Scheme, root.Scheme)
	fill(&out.Method, root.Method)
	fill(&out.Authority, root.Authority)
	out.Headers = union(root.GetHeaders(), leaf.GetHeaders())
	out.WithoutHeaders = union(root.GetWithoutHeaders(), leaf.GetWithoutHeaders())
	out.QueryParams = union(root.GetQueryParams(), leaf.GetQueryParams())
	out.SourceLabels = union(root.GetSourceLabels(), leaf.GetSourceLabels())
	if out.Port == 0 {
		out.Port = root.GetPort()
	}
	out.SourceNamespace = cmp.Or(out.GetSourceNamespace(), root.GetSourceNamespace())
	if len(out.Gateways) == 0 {
		out.Gateways = root.GetGateways()
	}
	out.StatPrefix = cmp.Or(out.GetStatPrefix(), root.GetStatPrefix())
	return out
}

// union is a copy of root with leaf's entries on top; nil when both are
// empty.
func union[V any](root, leaf map[string]V) map[string]V {
	if len(root)+len(leaf) == 0 {
		return nil
	}
	out := maps.Clone(root)
	if out == nil {
		out = map[string]V{}
	}
	maps.Copy(out, leaf)
	return out
}

// within reports whether a delegate match selects only requests its root
// match selects too, for every condition both of them set. Conditions
// only one of them sets never conflict; the merged match carries both.
func within(root, leaf *networkingv1alpha3.HTTPMatchRequest) bool {
	pairs := [][2]*networkingv1alpha3.StringMatch{
		{root.GetUri(), leaf.GetUri()}, {root.GetScheme(), leaf.GetScheme()},
		{root.GetMethod(), leaf.GetMethod()}, {root.GetAuthority(), leaf.GetAuthority()},
	}
	for _, m := range [][2]map[string]*networkingv1alpha3.StringMatch{
		{root.GetHeaders(), leaf.GetHeaders()},
		{root.GetWithoutHeaders(), leaf.GetWithoutHeaders()},
		{root.GetQueryParams(), leaf.GetQueryParams()},
	} {
		for k, l := range m[1] {
			pairs = append(pairs, [2]*networkingv1alpha3.StringMatch{m[0][k], l})
		}
	}
	for _, p := range pairs {
		if !stringMatchWithin(p[0], p[1]) {
			return false
		}
	}
	if root.GetIgnoreUriCase() != leaf.GetIgnoreUriCase() {
		return false
	}
	if root.GetPort() != 0 && leaf.GetPort() != 0 && root.GetPort() != leaf.GetPort() {
		return false
	}
	// A root that names a source namespace needs the delegate to name the
	// same one, as in Istio.
	if ns := root.GetSourceNamespace(); ns != "" && leaf.GetSourceNamespace() != ns {
		return false
	}
	for k, v := range leaf.GetSourceLabels() {
		if rv, ok := root.GetSourceLabels()[k]; ok && rv != v {
			return false
		}
	}
	if rg, lg := root.GetGateways(), leaf.GetGateways(); len(rg) > 0 && len(lg) > 0 {
		for _, g := range lg {
			if !slices.Contains(rg, g) {
				return false
			}
		}
	}
	return true
}

// stringMatchWithin: an exact root admits only the same exact value, a
// prefix root a longer prefix or an exact value under it; a regex root
// admits nothing more specific, since whether one regex contains another
// cannot be decided cheaply.
func stringMatchWithin(root, leaf *networkingv1alpha3.StringMatch) bool {
	if root == nil || leaf == nil {
		return true
	}
	if e := root.GetExact(); e != "" {
		return leaf.GetExact() == e
	}
	if p := root.GetPrefix(); p != "" {
		switch {
		case leaf.GetPrefix() != "":
			return strings.HasPrefix(leaf.GetPrefix(), p)
		case leaf.GetExact() != "":
			return strings.HasPrefix(leaf.GetExact(), p)
		}
	}
	return false
}
