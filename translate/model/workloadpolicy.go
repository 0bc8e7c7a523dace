package model

import (
	"cmp"
	"slices"

	typev1beta1 "istio.io/api/type/v1beta1"
)

// workloadPolicy is what AuthorizationPolicy and RequestAuthentication
// share: a workload selector, or target references instead.
type workloadPolicy interface {
	GetSelector() *typev1beta1.WorkloadSelector
	GetTargetRef() *typev1beta1.PolicyTargetReference
	GetTargetRefs() []*typev1beta1.PolicyTargetReference
}

// WorkloadPoliciesFor returns the configs of kind (AuthorizationPolicy or
// RequestAuthentication) that apply to a workload in namespace ns with
// labels, as Istio selects them for sidecars and proxyless servers: those
// in the mesh root namespace and in the workload's namespace whose
// selector is absent or matches the labels. A policy with targetRef(s)
// binds gateways and waypoints, never a workload, and is skipped (analyze
// reports it). Sorted by namespace and name.
func (s *Snapshot) WorkloadPoliciesFor(kind Kind, ns string, labels map[string]string) []*Config {
	all := s.configs[kind]
	var out []*Config
	for _, want := range slices.Compact([]string{s.mesh.GetRootNamespace(), ns}) {
		lo, _ := slices.BinarySearchFunc(all, want, func(c *Config, ns string) int { return cmp.Compare(c.Namespace, ns) })
		for _, c := range all[lo:] {
			if c.Namespace != want {
				break
			}
			p, ok := c.Spec.(workloadPolicy)
			if !ok || p.GetTargetRef() != nil || len(p.GetTargetRefs()) > 0 {
				continue
			}
			if Selects(p.GetSelector().GetMatchLabels(), labels) {
				out = append(out, c)
			}
		}
	}
	slices.SortFunc(out, func(a, b *Config) int { return compareConfigKeys(a.Key(), b.Key()) })
	return out
}
