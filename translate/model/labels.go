package model

import (
	"maps"
	"slices"
)

// Outbound config depends on the client workload's labels only through
// selectors: sourceLabels matches of VirtualService rules, and the
// workload selectors of DestinationRules and Sidecars. A proxy's labels
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
		add(AsDestinationRule(c).GetWorkloadSelector().GetMatchLabels())
	}
	for _, c := range s.configs[KindSidecar] {
		add(AsSidecar(c).GetWorkloadSelector().GetLabels())
	}
	return slices.Sorted(maps.Keys(keys))
}

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
