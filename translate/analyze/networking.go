package analyze

import (
	"fmt"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/pilotlight/pilotlight/translate/model"
)

func virtualServices(snap *model.Snapshot) []model.Problem {
	var out []model.Problem
	claimed := map[string]*model.Config{} // exportTo-agnostic host → first mesh VirtualService
	for _, c := range snap.Configs(model.KindVirtualService) {
		vs := model.AsVirtualService(c)
		mesh := len(vs.GetGateways()) == 0
		for _, g := range vs.GetGateways() {
			mesh = mesh || g == model.MeshGateway
		}
		if mesh {
			for i, h := range vs.GetHosts() {
				host := snap.ResolveConfigHost(h, c.Namespace)
				if first, ok := claimed[host]; ok && first.Namespace == c.Namespace {
					out = append(out, finding(c, CodeConflict, fmt.Sprintf("spec.hosts[%d]", i),
						"merge the routes into one VirtualService",
						"host %s is also routed by VirtualService %s/%s; only that one applies to sidecars", host, first.Namespace, first.Name))
				} else if !ok {
					claimed[host] = c
				}
			}
		}
		for i, rule := range vs.GetHttp() {
			out = append(out, httpRule(snap, c, fmt.Sprintf("spec.http[%d]", i), rule)...)
		}
		for i, rule := range vs.GetTcp() {
			for j, r := range rule.GetRoute() {
				out = append(out, destinationProblems(snap, c, fmt.Sprintf("spec.tcp[%d].route[%d].destination", i, j), r.GetDestination())...)
			}
		}
		if !model.IsDelegate(c) {
			out = append(out, delegation(snap, c)...)
		}
		if len(vs.GetTls()) > 0 && mesh {
			out = append(out, grpcOnly(c, "spec.tls", "TLS routes"))
		}
		for i, rule := range vs.GetTls() {
			for j, r := range rule.GetRoute() {
				out = append(out, destinationProblems(snap, c, fmt.Sprintf("spec.tls[%d].route[%d].destination", i, j), r.GetDestination())...)
			}
		}
	}
	return out
}

// delegation reports the parts of a root VirtualService's delegation that
// are not merged, on the root's delegating rule.
func delegation(snap *model.Snapshot, c *model.Config) []model.Problem {
	_, issues := snap.MergeDelegates(c)
	out := make([]model.Problem, 0, len(issues))
	for _, is := range issues {
		field := fmt.Sprintf("spec.http[%d].delegate", is.Rule)
		d := is.Delegate.Namespace + "/" + is.Delegate.Name
		switch is.Reason {
		case model.DelegateNotFound:
			out = append(out, finding(c, CodeReferenceNotFound, field, "create "+d+" as a VirtualService without hosts, or fix the reference",
				"delegate VirtualService %s does not exist (or has hosts, which makes it a root): the rule routes nothing", d))
		case model.DelegateNotExported:
			out = append(out, finding(c, CodeReferenceNotFound, field, "add "+c.Namespace+" to the delegate's exportTo",
				"delegate VirtualService %s is not exported to namespace %s: the rule routes nothing", d, c.Namespace))
		case model.DelegateConflict:
			out = append(out, finding(c, CodeConflict, field, "narrow the delegate rule's match to lie within the root rule's",
				"rule http[%d] of delegate %s matches requests this rule does not: that rule is left out", is.DelegateRule, d))
		case model.DelegateNested:
			out = append(out, finding(c, CodeNotTranslated, field, "route in the delegate instead of delegating again",
				"rule http[%d] of delegate %s delegates again, which Istio does not support: that rule is left out", is.DelegateRule, d))
		}
	}
	return out
}

func httpRule(snap *model.Snapshot, c *model.Config, field string, rule *networkingv1alpha3.HTTPRoute) []model.Problem {
	var out []model.Problem
	dest := func(f string, d *networkingv1alpha3.Destination) {
		out = append(out, destinationProblems(snap, c, f, d)...)
	}
	for j, r := range rule.GetRoute() {
		dest(fmt.Sprintf("%s.route[%d].destination", field, j), r.GetDestination())
	}
	if m := rule.GetMirror(); m != nil {
		dest(field+".mirror", m)
	}
	for j, m := range rule.GetMirrors() {
		dest(fmt.Sprintf("%s.mirrors[%d].destination", field, j), m.GetDestination())
	}
	for j, m := range rule.GetMatch() {
		mf := fmt.Sprintf("%s.match[%d]", field, j)
		if len(m.GetQueryParams()) > 0 {
			out = append(out, grpcOnly(c, mf+".queryParams", "query parameter matches"))
		}
		if m.GetScheme() != nil {
			out = append(out, grpcOnly(c, mf+".scheme", "scheme matches"))
		}
	}
	for _, f := range []struct {
		field, what string
		set         bool
	}{
		{".redirect", "redirects", rule.GetRedirect() != nil},
		{".directResponse", "direct responses", rule.GetDirectResponse() != nil},
		{".rewrite", "rewrites", rule.GetRewrite() != nil},
		{".mirror", "mirrors", rule.GetMirror() != nil || len(rule.GetMirrors()) > 0},
		{".corsPolicy", "CORS policies", rule.GetCorsPolicy() != nil},
		{".headers", "header operations", rule.GetHeaders() != nil},
	} {
		if f.set {
			out = append(out, grpcOnly(c, field+f.field, f.what))
		}
	}
	if r := rule.GetRetries(); r != nil && r.GetPerTryTimeout() != nil {
		out = append(out, grpcOnly(c, field+".retries.perTryTimeout", "per-try timeouts"))
	}
	return out
}

// destinationProblems checks that a route destination's host and subset
// exist.
func destinationProblems(snap *model.Snapshot, c *model.Config, f string, d *networkingv1alpha3.Destination) []model.Problem {
	host := snap.ResolveConfigHost(d.GetHost(), c.Namespace)
	if snap.Service(host) == nil {
		return []model.Problem{finding(c, CodeReferenceNotFound, f+".host", "create the Service or ServiceEntry, or fix the host",
			"host %s is not a known service: requests routed there fail", host)}
	}
	sub := d.GetSubset()
	if sub == "" {
		return nil
	}
	// Workloads a DestinationRule's selector picks see that rule rather
	// than the namespace's: a subset either defines is defined.
	var rules []*model.Config
	if dr := snap.DestinationRuleFor(host, c.Namespace, nil); dr != nil {
		rules = append(rules, dr)
	}
	for _, dr := range snap.Configs(model.KindDestinationRule) {
		spec := model.AsDestinationRule(dr)
		if dr.Namespace == c.Namespace && spec.GetWorkloadSelector() != nil && model.HostMatches(snap.ResolveConfigHost(spec.GetHost(), dr.Namespace), host) {
			rules = append(rules, dr)
		}
	}
	for _, policy := range rules {
		for _, s := range model.AsDestinationRule(policy).GetSubsets() {
			if s.GetName() == sub {
				return nil
			}
		}
	}
	return []model.Problem{finding(c, CodeReferenceNotFound, f+".subset", "define the subset in a DestinationRule for "+host,
		"subset %s of %s is not defined: requests routed there fail", sub, host)}
}

func grpcOnly(c *model.Config, field, what string) model.Problem {
	return finding(c, CodeNotForGRPC, field, "", "%s are ignored by proxyless gRPC clients (Envoy applies them)", what)
}

func destinationRules(snap *model.Snapshot) []model.Problem {
	var out []model.Problem
	for _, c := range snap.Configs(model.KindDestinationRule) {
		dr := model.AsDestinationRule(c)
		if snap.Service(snap.ResolveConfigHost(dr.GetHost(), c.Namespace)) == nil && !isWildcard(dr.GetHost()) {
			out = append(out, finding(c, CodeReferenceNotFound, "spec.host", "create the Service or ServiceEntry, or fix the host",
				"host %s is not a known service: the rule applies to nothing", dr.GetHost()))
		}
		policies := map[string]*networkingv1alpha3.TrafficPolicy{"spec.trafficPolicy": dr.GetTrafficPolicy()}
		for i, s := range dr.GetSubsets() {
			policies[fmt.Sprintf("spec.subsets[%d].trafficPolicy", i)] = s.GetTrafficPolicy()
		}
		for field, p := range policies {
			out = append(out, trafficPolicy(c, field, p)...)
			for i, pl := range p.GetPortLevelSettings() {
				out = append(out, trafficPolicy(c, fmt.Sprintf("%s.portLevelSettings[%d]", field, i), &networkingv1alpha3.TrafficPolicy{
					LoadBalancer: pl.GetLoadBalancer(), ConnectionPool: pl.GetConnectionPool(),
					OutlierDetection: pl.GetOutlierDetection(), Tls: pl.GetTls(),
				})...)
			}
		}
	}
	return out
}

func trafficPolicy(c *model.Config, field string, p *networkingv1alpha3.TrafficPolicy) []model.Problem {
	if p == nil {
		return nil
	}
	var out []model.Problem
	notYet := map[string]bool{
		".loadBalancer.warmup": p.GetLoadBalancer().GetWarmup() != nil || p.GetLoadBalancer().GetWarmupDurationSecs() != nil,
		".tunnel":              p.GetTunnel() != nil,
		".proxyProtocol":       p.GetProxyProtocol() != nil,
		".retryBudget":         p.GetRetryBudget() != nil,
	}
	for f, set := range notYet {
		if set {
			out = append(out, finding(c, CodeNotTranslated, field+f, "", "not applied yet"))
		}
	}
	// Proxyless clients take ISTIO_MUTUAL from their certificate
	// provider; other TLS modes name files or secrets they cannot read.
	if mode := p.GetTls().GetMode(); p.GetTls() != nil && mode != networkingv1alpha3.ClientTLSSettings_DISABLE && mode != networkingv1alpha3.ClientTLSSettings_ISTIO_MUTUAL {
		out = append(out, grpcOnly(c, field+".tls", "TLS origination settings other than ISTIO_MUTUAL"))
	}
	// Only istio-agent finds the file of the system trust store; a plain
	// Envoy reads the files a rule names itself (translate/networking.SDSSecret).
	if t := p.GetTls(); (t.GetMode() == networkingv1alpha3.ClientTLSSettings_SIMPLE || t.GetMode() == networkingv1alpha3.ClientTLSSettings_MUTUAL) &&
		t.GetCaCertificates() == "" && !t.GetInsecureSkipVerify().GetValue() {
		out = append(out, finding(c, CodeNeedsAgent, field+".tls.caCertificates",
			"name a CA bundle file mounted into such proxies in caCertificates",
			"unset: servers are verified by the system trust store, which only istio-agent finds; a plain Envoy that gets its workload certificate from pilotlight (%s) has none, and its TLS to the host fails",
			model.MetaWorkloadSDS))
	}
	if p.GetOutlierDetection() != nil {
		out = append(out, grpcOnly(c, field+".outlierDetection", "consecutive-error outlier detection settings"))
	}
	return out
}

func isWildcard(host string) bool { return len(host) > 0 && host[0] == '*' }

func sidecars(snap *model.Snapshot) []model.Problem {
	var out []model.Problem
	for _, c := range snap.Configs(model.KindSidecar) {
		sc := model.AsSidecar(c)
		out = append(out, sidecarIngress(c, sc.GetIngress())...)
		out = append(out, egressProxy(snap, c, sc.GetOutboundTrafficPolicy())...)
		for i, eg := range sc.GetEgress() {
			if eg.GetPort() != nil || eg.GetBind() != "" {
				out = append(out, finding(c, CodeNotTranslated, fmt.Sprintf("spec.egress[%d].port", i), "", "per-port egress listeners are not built yet; the hosts still scope the config"))
			}
		}
	}
	return out
}

// egressProxy checks a Sidecar's egress proxy: it applies with ALLOW_ANY
// only, needs a port to name a cluster, and should be a known service.
func egressProxy(snap *model.Snapshot, c *model.Config, p *networkingv1alpha3.OutboundTrafficPolicy) []model.Problem {
	ep := p.GetEgressProxy()
	const field = "spec.outboundTrafficPolicy.egressProxy"
	switch {
	case ep == nil:
		return nil
	case p.GetMode() != networkingv1alpha3.OutboundTrafficPolicy_ALLOW_ANY:
		return []model.Problem{finding(c, CodeConflict, field, "set mode ALLOW_ANY, or remove the egress proxy",
			"an egress proxy applies only with mode ALLOW_ANY: with REGISTRY_ONLY unknown destinations are dropped and the egress proxy is ignored")}
	case ep.GetPort().GetNumber() == 0:
		return []model.Problem{finding(c, CodeReferenceNotFound, field+".port", "name the egress proxy's port",
			"an egress proxy without a port names no cluster: unknown destinations are passed through instead")}
	}
	if host := snap.ResolveConfigHost(ep.GetHost(), c.Namespace); snap.Service(host) == nil {
		return []model.Problem{finding(c, CodeReferenceNotFound, field+".host", "create the Service or ServiceEntry, or fix the host",
			"host %s is not a known service: traffic to unknown destinations fails", host)}
	}
	return nil
}

// sidecarIngress reports the parts of a Sidecar's ingress listeners the
// sidecar generator leaves out.
func sidecarIngress(c *model.Config, ingress []*networkingv1alpha3.IstioIngressListener) []model.Problem {
	var out []model.Problem
	seen := map[uint32]int{}
	for i, in := range ingress {
		field := fmt.Sprintf("spec.ingress[%d]", i)
		if first, dup := seen[in.GetPort().GetNumber()]; dup {
			out = append(out, finding(c, CodeConflict, field+".port", "give each ingress listener its own port",
				"port %d is also spec.ingress[%d]'s, which applies", in.GetPort().GetNumber(), first))
		} else {
			seen[in.GetPort().GetNumber()] = i
		}
		if _, err := model.ParseIngressEndpoint(in.GetDefaultEndpoint()); err != nil {
			out = append(out, finding(c, CodeNotTranslated, field+".defaultEndpoint", "use 127.0.0.1:PORT, 0.0.0.0:PORT, [::1]:PORT, [::]:PORT or unix:///PATH",
				"%v; the listener is left out", err))
		}
		if in.GetCaptureMode() == networkingv1alpha3.CaptureMode_NONE {
			out = append(out, finding(c, CodeNotTranslated, field+".captureMode", "",
				"listeners bound to the port (captureMode NONE) are not built yet; the listener is left out"))
		}
		if in.GetTls() != nil {
			out = append(out, finding(c, CodeNotTranslated, field+".tls", "",
				"TLS on ingress listeners is off in istiod unless ENABLE_TLS_ON_SIDECAR_INGRESS is set, and not applied here either"))
		}
		if in.GetConnectionPool() != nil {
			out = append(out, finding(c, CodeNotTranslated, field+".connectionPool", "", "not applied yet"))
		}
	}
	return out
}
