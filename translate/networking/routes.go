package networking

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	previoushostsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/host/previous_hosts/v3"
	previousprioritiesv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/priority/previous_priorities/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/resource"
)

// RouteInput is what the routes of one virtual host depend on.
type RouteInput struct {
	Snap *model.Snapshot
	// VirtualService routing the host, or nil for the default route.
	VirtualService *model.Config
	Service        *model.Service
	// Port is the service port the virtual host serves.
	Port model.Port
	// ClientNamespace is the namespace of the proxy the routes are for.
	ClientNamespace string
	// ClientLabels are that proxy's labels, as far as its view carries
	// them (translate.OutboundScope): what sourceLabels matches and
	// DestinationRule workload selectors read.
	ClientLabels map[string]string
	Target       Target
	// Gateway is the Gateway (NAMESPACE/NAME) the routes are for, on a
	// router; empty means the mesh (sidecars and proxyless clients). A
	// match that lists gateways applies only to the ones it lists.
	// Service may be nil for a gateway: its hosts need not be services.
	Gateway string
}

// MeshRouteInput is the input of the routes of a service port for a
// sidecar or proxyless client with outbound view v: the VirtualService
// its namespace sees for the service, and the client as its view carries
// it.
func MeshRouteInput(snap *model.Snapshot, v model.OutboundView, svc *model.Service, port model.Port, t Target) RouteInput {
	return RouteInput{
		Snap:            snap,
		VirtualService:  snap.VirtualServiceFor(svc.Hostname, v.Namespace),
		Service:         svc,
		Port:            port,
		ClientNamespace: v.Namespace,
		ClientLabels:    v.Labels,
		Target:          t,
	}
}

// HTTPRoutes returns the routes of one virtual host: the VirtualService's
// HTTP rules in order, one Envoy route per match, or a single default
// route to the service when no VirtualService applies. As in Istio, a
// VirtualService that matches nothing for a request leaves it unrouted
// (404); no catch-all is added behind its rules.
func HTTPRoutes(in RouteInput) []*routev3.Route {
	if in.VirtualService == nil {
		return []*routev3.Route{defaultRoute(in)}
	}
	vs := model.AsVirtualService(in.VirtualService)
	var out []*routev3.Route
	for i, rule := range vs.GetHttp() {
		matches := rule.GetMatch()
		if len(matches) == 0 {
			matches = []*networkingv1alpha3.HTTPMatchRequest{nil}
		}
		for j, m := range matches {
			if !appliesTo(m, in) {
				continue
			}
			match, ok := routeMatch(m, in.Target)
			if !ok {
				continue
			}
			r := &routev3.Route{Name: routeName(in.VirtualService, rule, i, m, j), Match: match}
			if !buildAction(r, rule, in) {
				continue
			}
			out = append(out, r)
		}
	}
	return out
}

// appliesTo checks the parts of a match that select the client or port
// rather than the request.
func appliesTo(m *networkingv1alpha3.HTTPMatchRequest, in RouteInput) bool {
	if m == nil {
		return true
	}
	if m.GetPort() != 0 && m.GetPort() != in.Port.Number {
		return false
	}
	if ns := m.GetSourceNamespace(); ns != "" && ns != in.ClientNamespace {
		return false
	}
	if gws := m.GetGateways(); len(gws) > 0 {
		want := model.MeshGateway
		if in.Gateway != "" {
			want = in.Gateway
		}
		found := false
		for _, g := range gws {
			found = found || model.ResolveGatewayName(g, in.VirtualService.Namespace) == want
		}
		if !found {
			return false
		}
	}
	return model.Selects(m.GetSourceLabels(), in.ClientLabels)
}

func routeName(c *model.Config, rule *networkingv1alpha3.HTTPRoute, i int, m *networkingv1alpha3.HTTPMatchRequest, j int) string {
	name := rule.GetName()
	if name == "" {
		name = strconv.Itoa(i)
	}
	if mn := m.GetName(); mn != "" {
		name += "." + mn
	} else if len(rule.GetMatch()) > 1 {
		name += "." + strconv.Itoa(j)
	}
	return c.Namespace + "/" + c.Name + "/" + name
}

// buildAction fills the route's action and per-route settings. It
// returns false when the target cannot carry the rule at all.
func buildAction(r *routev3.Route, rule *networkingv1alpha3.HTTPRoute, in RouteInput) bool {
	switch {
	case rule.GetRedirect() != nil:
		if in.Target == GRPC {
			return false // Analyze: unsupported-for-grpc.
		}
		r.Action = &routev3.Route_Redirect{Redirect: redirect(rule.GetRedirect())}
	case rule.GetDirectResponse() != nil:
		if in.Target == GRPC {
			return false
		}
		r.Action = &routev3.Route_DirectResponse{DirectResponse: directResponse(rule.GetDirectResponse())}
	case len(rule.GetRoute()) > 0:
		action := &routev3.RouteAction{}
		if len(rule.GetRoute()) == 1 {
			dest := rule.GetRoute()[0]
			action.ClusterSpecifier = &routev3.RouteAction_Cluster{Cluster: destinationCluster(dest.GetDestination(), in)}
			if in.Target == Envoy {
				addHeaders(r, dest.GetHeaders())
			}
		} else {
			wc := &routev3.WeightedCluster{}
			for _, dest := range rule.GetRoute() {
				c := &routev3.WeightedCluster_ClusterWeight{
					Name:   destinationCluster(dest.GetDestination(), in),
					Weight: wrapperspb.UInt32(uint32(max(dest.GetWeight(), 0))),
				}
				if in.Target == Envoy {
					c.RequestHeadersToAdd = headerOptions(dest.GetHeaders().GetRequest())
					c.RequestHeadersToRemove = dest.GetHeaders().GetRequest().GetRemove()
					c.ResponseHeadersToAdd = headerOptions(dest.GetHeaders().GetResponse())
					c.ResponseHeadersToRemove = dest.GetHeaders().GetResponse().GetRemove()
				}
				if c.GetWeight().GetValue() > 0 {
					wc.Clusters = append(wc.Clusters, c)
				}
			}
			if len(wc.Clusters) == 0 {
				return false // All weights zero: nothing to send to.
			}
			action.ClusterSpecifier = &routev3.RouteAction_WeightedClusters{WeightedClusters: wc}
		}
		setTimeouts(action, rule, in.Target)
		action.HashPolicy = routeHashPolicy(rule.GetRoute(), in)
		// Only a route to one destination retries on its hashed host, as
		// in istiod; a weighted route still retries elsewhere.
		setRetries(action, rule.GetRetries(), in.Target, len(action.HashPolicy) > 0 && len(rule.GetRoute()) == 1)
		if in.Target == Envoy {
			setRewrite(action, rule.GetRewrite())
			action.RequestMirrorPolicies = mirrors(rule, in)
		}
		r.Action = &routev3.Route_Route{Route: action}
	default:
		return false // A rule with neither route, redirect nor direct response (validation rejects it).
	}
	if in.Target == Envoy {
		addHeaders(r, rule.GetHeaders())
		if cors := corsPolicy(rule.GetCorsPolicy()); cors != nil {
			perFilter(r, resource.CORSFilterName, cors)
		}
	}
	if f := fault(rule.GetFault()); f != nil {
		perFilter(r, resource.FaultFilterName, f)
	}
	r.Decorator = &routev3.Decorator{Operation: decoratorHost(in) + "/*"}
	return true
}

// decoratorHost names what a route serves in traces: the service and
// port, or, on a gateway whose host is not a service, the
// VirtualService and port, as Istio does.
func decoratorHost(in RouteInput) string {
	if in.Service == nil {
		return in.VirtualService.Name + ":" + strconv.FormatUint(uint64(in.Port.Number), 10)
	}
	return model.JoinHostPort(in.Service.Hostname, in.Port.Number)
}

func perFilter(r *routev3.Route, name string, cfg *anypb.Any) {
	if r.TypedPerFilterConfig == nil {
		r.TypedPerFilterConfig = map[string]*anypb.Any{}
	}
	r.TypedPerFilterConfig[name] = cfg
}

// destinationCluster names the cluster of a route destination of the
// input's VirtualService.
func destinationCluster(d *networkingv1alpha3.Destination, in RouteInput) string {
	return DestinationCluster(in.Snap, d, in.VirtualService.Namespace, in.Port.Number)
}

// DestinationCluster names the cluster of a route destination of a
// VirtualService in namespace vsNamespace (see DestinationParts).
func DestinationCluster(snap *model.Snapshot, d *networkingv1alpha3.Destination, vsNamespace string, arrivalPort uint32) string {
	host, subset, port := DestinationParts(snap, d, vsNamespace, arrivalPort)
	return resource.OutboundClusterName(port, subset, host)
}

// DestinationParts resolves a route destination of a VirtualService in
// namespace vsNamespace to the host, subset and port of its cluster. The
// port is the destination's, or the only port of its service, or
// arrivalPort, the port the request or connection came in on, as in
// Istio.
func DestinationParts(snap *model.Snapshot, d *networkingv1alpha3.Destination, vsNamespace string, arrivalPort uint32) (host, subset string, port uint32) {
	host = snap.ResolveConfigHost(d.GetHost(), vsNamespace)
	port = d.GetPort().GetNumber()
	if port == 0 {
		if svc := snap.Service(host); svc != nil && len(svc.Ports) == 1 {
			port = svc.Ports[0].Number
		} else {
			port = arrivalPort
		}
	}
	return host, d.GetSubset(), port
}

// defaultRoute sends everything to the service. Envoy gets istiod's default
// retry policy; gRPC clients get none, as istiod's proxyless config has
// none.
func defaultRoute(in RouteInput) *routev3.Route {
	cluster := resource.OutboundClusterName(in.Port.Number, "", in.Service.Hostname)
	action := &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: cluster}}
	if in.Target == Envoy {
		action = RouteTo(cluster)
	}
	action.HashPolicy = hashPolicy(in, in.Service.Hostname, "", in.Port.Number)
	if in.Target == Envoy {
		action.RetryPolicy = DefaultRetryPolicy()
		if len(action.HashPolicy) > 0 {
			dropPreviousHosts(action.RetryPolicy)
		}
	}
	r := &routev3.Route{
		Name:   "default",
		Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
		Action: &routev3.Route_Route{Route: action},
	}
	if in.Target == Envoy {
		r.Decorator = &routev3.Decorator{Operation: model.JoinHostPort(in.Service.Hostname, in.Port.Number) + "/*"}
	}
	return r
}

// noTimeouts turns Envoy's 15 s default route timeout off: Istio leaves
// request timeouts to VirtualServices, and a silent default would break
// long-lived streams.
func noTimeouts(a *routev3.RouteAction) {
	a.Timeout = durationpb.New(0)
	a.MaxStreamDuration = &routev3.RouteAction_MaxStreamDuration{
		MaxStreamDuration:    durationpb.New(0),
		GrpcTimeoutHeaderMax: durationpb.New(0),
	}
}

// RouteTo is an Envoy route action to one cluster with timeouts off (see
// noTimeouts), for routes no VirtualService shapes.
func RouteTo(cluster string) *routev3.RouteAction {
	a := &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: cluster}}
	noTimeouts(a)
	return a
}

// setTimeouts: Envoy reads route.timeout; gRPC ignores it and bounds each
// call with max_stream_duration instead.
func setTimeouts(a *routev3.RouteAction, rule *networkingv1alpha3.HTTPRoute, t Target) {
	timeout := rule.GetTimeout()
	if t == GRPC {
		if timeout != nil {
			a.MaxStreamDuration = &routev3.RouteAction_MaxStreamDuration{MaxStreamDuration: timeout, GrpcTimeoutHeaderMax: timeout}
		}
		return
	}
	noTimeouts(a)
	if timeout != nil {
		a.Timeout = timeout
		a.MaxStreamDuration.GrpcTimeoutHeaderMax = timeout
	}
}

// DefaultRetryPolicy is istiod's: two retries on connection failures and
// refused or cancelled streams, each on another host.
func DefaultRetryPolicy() *routev3.RetryPolicy {
	return &routev3.RetryPolicy{
		RetryOn:    "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes",
		NumRetries: wrapperspb.UInt32(2),
		RetryHostPredicate: []*routev3.RetryPolicy_RetryHostPredicate{{
			Name: "envoy.retry_host_predicates.previous_hosts",
			ConfigType: &routev3.RetryPolicy_RetryHostPredicate_TypedConfig{
				TypedConfig: resource.Any(&previoushostsv3.PreviousHostsPredicate{}),
			},
		}},
		HostSelectionRetryMaxAttempts: 5,
	}
}

// grpcRetryOn lists the retry conditions gRPC implements (gRFC A44).
var grpcRetryOn = map[string]bool{
	"cancelled": true, "deadline-exceeded": true, "internal": true,
	"resource-exhausted": true, "unavailable": true,
}

// setRetries: unset keeps the default (Envoy); attempts 0 disables.
//
// hashed says the route sends to one destination by consistent hash: a
// retry then goes back to the hashed host unless the rule says otherwise.
func setRetries(a *routev3.RouteAction, r *networkingv1alpha3.HTTPRetry, t Target, hashed bool) {
	if r == nil {
		if t == Envoy {
			a.RetryPolicy = DefaultRetryPolicy()
			if hashed {
				dropPreviousHosts(a.RetryPolicy)
			}
		}
		return
	}
	if r.GetAttempts() <= 0 {
		return
	}
	p := &routev3.RetryPolicy{NumRetries: wrapperspb.UInt32(uint32(r.GetAttempts()))}
	on := r.GetRetryOn()
	if on == "" {
		on = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
	}
	var conds []string
	for _, c := range strings.Split(on, ",") {
		c = strings.TrimSpace(c)
		if code, err := strconv.ParseUint(c, 10, 32); err == nil {
			// A bare status code is Istio's shorthand for
			// retriable-status-codes: HTTP statuses, which gRPC never sees.
			if t == GRPC {
				continue
			}
			p.RetriableStatusCodes = append(p.RetriableStatusCodes, uint32(code))
			c = "retriable-status-codes"
		}
		if t == GRPC && !grpcRetryOn[c] {
			continue // Analyze: unsupported-for-grpc.
		}
		if c != "" && !slices.Contains(conds, c) {
			conds = append(conds, c)
		}
	}
	if len(conds) == 0 {
		return
	}
	p.RetryOn = strings.Join(conds, ",")
	if pt := r.GetPerTryTimeout(); pt != nil && t == Envoy {
		p.PerTryTimeout = pt
	}
	if b := r.GetBackoff(); b != nil {
		p.RetryBackOff = &routev3.RetryPolicy_RetryBackOff{BaseInterval: b}
	}
	if t == Envoy {
		if r.GetRetryIgnorePreviousHosts() == nil || r.GetRetryIgnorePreviousHosts().GetValue() {
			p.RetryHostPredicate = DefaultRetryPolicy().RetryHostPredicate
			p.HostSelectionRetryMaxAttempts = 5
		}
		if r.GetRetryRemoteLocalities().GetValue() {
			p.RetryPriority = &routev3.RetryPolicy_RetryPriority{
				Name: "envoy.retry_priorities.previous_priorities",
				ConfigType: &routev3.RetryPolicy_RetryPriority_TypedConfig{TypedConfig: resource.Any(
					&previousprioritiesv3.PreviousPrioritiesConfig{UpdateFrequency: 2},
				)},
			}
		}
	}
	if hashed && r.GetRetryIgnorePreviousHosts() == nil {
		dropPreviousHosts(p)
	}
	a.RetryPolicy = p
}

func dropPreviousHosts(p *routev3.RetryPolicy) {
	p.RetryHostPredicate = nil
	p.HostSelectionRetryMaxAttempts = 0
}

func setRewrite(a *routev3.RouteAction, rw *networkingv1alpha3.HTTPRewrite) {
	if rw == nil {
		return
	}
	if u := rw.GetUri(); u != "" {
		a.PrefixRewrite = u
	}
	if re := rw.GetUriRegexRewrite(); re != nil {
		a.RegexRewrite = &matcherv3.RegexMatchAndSubstitute{Pattern: regex(re.GetMatch()), Substitution: re.GetRewrite()}
	}
	if h := rw.GetAuthority(); h != "" {
		a.HostRewriteSpecifier = &routev3.RouteAction_HostRewriteLiteral{HostRewriteLiteral: h}
	}
}

// mirrors: mirror (+ mirrorPercentage, 100 % by default) and mirrors.
func mirrors(rule *networkingv1alpha3.HTTPRoute, in RouteInput) []*routev3.RouteAction_RequestMirrorPolicy {
	var out []*routev3.RouteAction_RequestMirrorPolicy
	add := func(d *networkingv1alpha3.Destination, pct *networkingv1alpha3.Percent) {
		// The mirrored request keeps its Host, as istiod configures it,
		// rather than Envoy's default "-shadow" suffix.
		p := &routev3.RouteAction_RequestMirrorPolicy{Cluster: destinationCluster(d, in), DisableShadowHostSuffixAppend: true}
		value := 100.0
		if pct != nil {
			value = pct.GetValue()
		} else if rule.GetMirrorPercent() != nil { //nolint:staticcheck // Istio still accepts the deprecated field; users rely on it.
			value = float64(rule.GetMirrorPercent().GetValue()) //nolint:staticcheck // Istio still accepts the deprecated field; users rely on it.
		}
		p.RuntimeFraction = &corev3.RuntimeFractionalPercent{DefaultValue: percent(value)}
		out = append(out, p)
	}
	if m := rule.GetMirror(); m != nil {
		add(m, rule.GetMirrorPercentage())
	}
	for _, m := range rule.GetMirrors() {
		add(m.GetDestination(), m.GetPercentage())
	}
	return out
}

// percent expresses a percentage with Envoy's finest denominator, so
// fractions such as 0.5 % survive.
func percent(p float64) *typev3.FractionalPercent {
	return &typev3.FractionalPercent{
		Numerator:   uint32(p * 10000),
		Denominator: typev3.FractionalPercent_MILLION,
	}
}

func redirect(r *networkingv1alpha3.HTTPRedirect) *routev3.RedirectAction {
	out := &routev3.RedirectAction{}
	if u := r.GetUri(); u != "" {
		out.PathRewriteSpecifier = &routev3.RedirectAction_PathRedirect{PathRedirect: u}
	}
	if a := r.GetAuthority(); a != "" {
		out.HostRedirect = a
	}
	if p := r.GetPort(); p != 0 {
		out.PortRedirect = p
	}
	if s := r.GetScheme(); s != "" {
		out.SchemeRewriteSpecifier = &routev3.RedirectAction_SchemeRedirect{SchemeRedirect: s}
	}
	switch r.GetRedirectCode() {
	case 0, 301:
		out.ResponseCode = routev3.RedirectAction_MOVED_PERMANENTLY
	case 302:
		out.ResponseCode = routev3.RedirectAction_FOUND
	case 303:
		out.ResponseCode = routev3.RedirectAction_SEE_OTHER
	case 307:
		out.ResponseCode = routev3.RedirectAction_TEMPORARY_REDIRECT
	case 308:
		out.ResponseCode = routev3.RedirectAction_PERMANENT_REDIRECT
	}
	return out
}

func directResponse(d *networkingv1alpha3.HTTPDirectResponse) *routev3.DirectResponseAction {
	out := &routev3.DirectResponseAction{Status: d.GetStatus()}
	switch b := d.GetBody().GetSpecifier().(type) {
	case *networkingv1alpha3.HTTPBody_String_:
		out.Body = &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: b.String_}}
	case *networkingv1alpha3.HTTPBody_Bytes:
		out.Body = &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: b.Bytes}}
	}
	return out
}

func addHeaders(r *routev3.Route, h *networkingv1alpha3.Headers) {
	if h == nil {
		return
	}
	r.RequestHeadersToAdd = append(r.RequestHeadersToAdd, headerOptions(h.GetRequest())...)
	r.RequestHeadersToRemove = append(r.RequestHeadersToRemove, h.GetRequest().GetRemove()...)
	r.ResponseHeadersToAdd = append(r.ResponseHeadersToAdd, headerOptions(h.GetResponse())...)
	r.ResponseHeadersToRemove = append(r.ResponseHeadersToRemove, h.GetResponse().GetRemove()...)
}

// headerOptions: set overwrites, add appends.
func headerOptions(op *networkingv1alpha3.Headers_HeaderOperations) []*corev3.HeaderValueOption {
	var out []*corev3.HeaderValueOption
	for _, k := range slices.Sorted(maps.Keys(op.GetSet())) {
		out = append(out, &corev3.HeaderValueOption{
			Header:       &corev3.HeaderValue{Key: k, Value: op.GetSet()[k]},
			AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
		})
	}
	for _, k := range slices.Sorted(maps.Keys(op.GetAdd())) {
		out = append(out, &corev3.HeaderValueOption{
			Header:       &corev3.HeaderValue{Key: k, Value: op.GetAdd()[k]},
			AppendAction: corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD,
		})
	}
	return out
}

// hashPolicy returns the consistent-hash key that the DestinationRule
// (and subset) of a destination sets, which Envoy and gRPC read from the
// route rather than the cluster.
func hashPolicy(in RouteInput, host, subset string, port uint32) []*routev3.RouteAction_HashPolicy {
	dr := in.Snap.DestinationRuleFor(host, in.ClientNamespace, in.ClientLabels)
	if dr == nil {
		return nil
	}
	policy := EffectivePolicy(model.AsDestinationRule(dr), subset, port)
	return HashPolicy(policy.GetLoadBalancer().GetConsistentHash(), in.Target)
}

// routeHashPolicy: a route has one hash policy, so destinations that hash
// differently (or not at all) get none, as in Istio.
func routeHashPolicy(dests []*networkingv1alpha3.HTTPRouteDestination, in RouteInput) []*routev3.RouteAction_HashPolicy {
	var out []*routev3.RouteAction_HashPolicy
	for i, d := range dests {
		host, subset, port := DestinationParts(in.Snap, d.GetDestination(), in.VirtualService.Namespace, in.Port.Number)
		hp := hashPolicy(in, host, subset, port)
		if i > 0 && !proto.Equal(&routev3.RouteAction{HashPolicy: hp}, &routev3.RouteAction{HashPolicy: out}) {
			return nil
		}
		out = hp
	}
	return out
}

// HashPolicy translates a consistentHash key.
func HashPolicy(ch *networkingv1alpha3.LoadBalancerSettings_ConsistentHashLB, t Target) []*routev3.RouteAction_HashPolicy {
	if ch == nil {
		return nil
	}
	var p *routev3.RouteAction_HashPolicy
	switch k := ch.GetHashKey().(type) {
	case *networkingv1alpha3.LoadBalancerSettings_ConsistentHashLB_HttpHeaderName:
		p = &routev3.RouteAction_HashPolicy{PolicySpecifier: &routev3.RouteAction_HashPolicy_Header_{
			Header: &routev3.RouteAction_HashPolicy_Header{HeaderName: strings.ToLower(k.HttpHeaderName)},
		}}
	case *networkingv1alpha3.LoadBalancerSettings_ConsistentHashLB_HttpCookie:
		if t == GRPC {
			return nil
		}
		c := &routev3.RouteAction_HashPolicy_Cookie{Name: k.HttpCookie.GetName(), Path: k.HttpCookie.GetPath(), Ttl: k.HttpCookie.GetTtl()}
		p = &routev3.RouteAction_HashPolicy{PolicySpecifier: &routev3.RouteAction_HashPolicy_Cookie_{Cookie: c}}
	case *networkingv1alpha3.LoadBalancerSettings_ConsistentHashLB_UseSourceIp:
		if t == GRPC {
			return nil
		}
		p = &routev3.RouteAction_HashPolicy{PolicySpecifier: &routev3.RouteAction_HashPolicy_ConnectionProperties_{
			ConnectionProperties: &routev3.RouteAction_HashPolicy_ConnectionProperties{SourceIp: true},
		}}
	case *networkingv1alpha3.LoadBalancerSettings_ConsistentHashLB_HttpQueryParameterName:
		if t == GRPC {
			return nil
		}
		p = &routev3.RouteAction_HashPolicy{PolicySpecifier: &routev3.RouteAction_HashPolicy_QueryParameter_{
			QueryParameter: &routev3.RouteAction_HashPolicy_QueryParameter{Name: k.HttpQueryParameterName},
		}}
	default:
		return nil
	}
	return []*routev3.RouteAction_HashPolicy{p}
}

// RouteConfigName is the route table a proxyless client's listener for a
// service port names.
func RouteConfigName(port uint32, host string) string {
	return fmt.Sprintf("outbound|%d||%s", port, host)
}
