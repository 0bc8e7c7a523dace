package model

import (
	"maps"
	"slices"
	"strings"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
)

// Outbound config depends on the client workload's labels only through
// selectors: sourceLabels matches of VirtualService rules, the workload
// selectors of DestinationRules and Sidecars, and the labels locality
// failover priorities compare. A proxy's labels
// mostly carry keys none of these read (pod-template-hash, version, ...),
// and keeping those in a cache key would give every pod its own config.
// So the snapshot knows which keys are read, and translate narrows views
// to them.

// selectedLabelKeys collects the label keys the snapshot's selectors
// read. Called by Build once the routable VirtualServices are known.
func (s *Snapshot) selectedLabelKeys() []string {
	keys := map[string]struct{}{}
	add := func(selector map[string]string) {
		for k := range selector {
			keys[k] = struct{}{}
		}
	}
	for _, c := range s.routable {
		vs := AsVirtualService(c)
		for _, r := range vs.GetHttp() {
			for _, m := range r.GetMatch() {
				add(m.GetSourceLabels())
			}
		}
		for _, r := range vs.GetTcp() {
			for _, m := range r.GetMatch() {
				add(m.GetSourceLabels())
			}
		}
		for _, r := range vs.GetTls() {
			for _, m := range r.GetMatch() {
				add(m.GetSourceLabels())
			}
		}
	}
	for _, c := range s.configs[KindDestinationRule] {
		dr := AsDestinationRule(c)
		add(dr.GetWorkloadSelector().GetMatchLabels())
		for _, p := range trafficPolicies(dr) {
			addKeys(keys, p.GetLoadBalancer().GetLocalityLbSetting().GetFailoverPriority())
		}
	}
	addKeys(keys, s.mesh.GetLocalityLbSetting().GetFailoverPriority())
	for _, c := range s.configs[KindSidecar] {
		add(AsSidecar(c).GetWorkloadSelector().GetLabels())
	}
	return slices.Sorted(maps.Keys(keys))
}

// addKeys adds the label keys a failover priority list reads from the
// client: KEY entries (KEY=VALUE compares endpoints with VALUE instead).
func addKeys(keys map[string]struct{}, failoverPriority []string) {
	for _, p := range failoverPriority {
		if k, _, override := strings.Cut(p, "="); !override {
			keys[k] = struct{}{}
		}
	}
}

// trafficPolicies lists every traffic policy of a DestinationRule, port
// and subset levels included, as policies: port-level settings carry the
// same groups.
func trafficPolicies(dr *networkingv1alpha3.DestinationRule) []*networkingv1alpha3.TrafficPolicy {
	var out []*networkingv1alpha3.TrafficPolicy
	add := func(p *networkingv1alpha3.TrafficPolicy) {
		if p == nil {
			return
		}
		out = append(out, p)
		for _, pl := range p.GetPortLevelSettings() {
			out = append(out, &networkingv1alpha3.TrafficPolicy{LoadBalancer: pl.GetLoadBalancer(), OutlierDetection: pl.GetOutlierDetection()})
		}
	}
	add(dr.GetTrafficPolicy())
	for _, sub := range dr.GetSubsets() {
		add(sub.GetTrafficPolicy())
	}
	return out
}

// localityAware reports whether some cluster's endpoints may depend on
// the client's locality: the mesh distributes traffic by locality, or
// some DestinationRule sets locality load balancing or outlier detection
// (which turns the mesh's failover on). Called by Build.
func (s *Snapshot) localityAware() bool {
	if m := s.mesh.GetLocalityLbSetting(); len(m.GetDistribute()) > 0 && (m.GetEnabled() == nil || m.GetEnabled().GetValue()) {
		return true
	}
	for _, c := range s.configs[KindDestinationRule] {
		for _, p := range trafficPolicies(AsDestinationRule(c)) {
			if p.GetLoadBalancer().GetLocalityLbSetting() != nil || p.GetOutlierDetection() != nil {
				return true
			}
		}
	}
	return false
}

// LocalityAware reports whether some cluster's endpoints may depend on
// the client's locality, which then belongs in endpoint views.
func (s *Snapshot) LocalityAware() bool { return s.locality }

// SelectedLabels returns the part of a workload's labels that some
// selector or sourceLabels match in the snapshot reads, or nil when
// there is none: all that outbound config can depend on.
func (s *Snapshot) SelectedLabels(labels map[string]string) map[string]string {
	var out map[string]string
	for _, k := range s.labelKeys {
		if v, ok := labels[k]; ok {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
}
