package model

import (
	"cmp"
	"strings"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
)

// SidecarFor returns the Sidecar resource that scopes the outbound config
// of a workload in namespace ns with these labels, with Istio's
// precedence: a Sidecar of the namespace whose workload selector selects
// the workload (the first by name when several do), else the namespace's
// Sidecar without a selector, else the root namespace's Sidecar without
// one, else nil (everything visible). A selector never reaches across
// namespaces, the root namespace's included.
func (s *Snapshot) SidecarFor(ns string, labels map[string]string) *Config {
	var nsDefault, rootDefault *Config
	for _, c := range s.configs[KindSidecar] {
		sel := AsSidecar(c).GetWorkloadSelector()
		switch {
		case sel != nil:
			if c.Namespace == ns && Selects(sel.GetLabels(), labels) {
				return c
			}
		case c.Namespace == ns:
			nsDefault = cmp.Or(nsDefault, c)
		case c.Namespace == s.mesh.GetRootNamespace():
			rootDefault = cmp.Or(rootDefault, c)
		}
	}
	return cmp.Or(nsDefault, rootDefault)
}

// ExportedTo returns the services exported to namespace ns, sorted by
// hostname. Endpoint assignments use it: a Sidecar narrows what a proxy
// is configured with, not what it may ask for.
func (s *Snapshot) ExportedTo(ns string) []*Service {
	if !s.anyExportTo {
		return s.services
	}
	var out []*Service
	for _, svc := range s.services {
		if visibleTo(svc.ExportTo, svc.Namespace, ns) {
			out = append(out, svc)
		}
	}
	return out
}

// RestrictsVisibility reports whether some service is hidden from some
// namespace, so that what a namespace may see depends on the namespace.
func (s *Snapshot) RestrictsVisibility() bool { return s.anyExportTo }

// ServicesFor returns the services a proxy in namespace ns with these
// labels is configured for, sorted by hostname: those exported to it,
// narrowed by its Sidecar's egress hosts.
func (s *Snapshot) ServicesFor(ns string, labels map[string]string) []*Service {
	sidecar := s.SidecarFor(ns, labels)
	if sidecar == nil && !s.anyExportTo {
		return s.services
	}
	var out []*Service
	for _, svc := range s.services {
		if visibleTo(svc.ExportTo, svc.Namespace, ns) && (sidecar == nil || sidecarAllows(AsSidecar(sidecar), ns, svc)) {
			out = append(out, svc)
		}
	}
	return out
}

// InScope reports whether ServicesFor(ns, labels) includes svc.
func (s *Snapshot) InScope(svc *Service, ns string, labels map[string]string) bool {
	if !visibleTo(svc.ExportTo, svc.Namespace, ns) {
		return false
	}
	sidecar := s.SidecarFor(ns, labels)
	return sidecar == nil || sidecarAllows(AsSidecar(sidecar), ns, svc)
}

// sidecarAllows: an egress host is NAMESPACE/HOST, where NAMESPACE is a
// name, "*" (any), "." (the workload's own, which for the root
// namespace's mesh-wide default is not the Sidecar's) or "~" (none), and
// HOST an FQDN, a wildcard (*.example.com) or "*". A service is in scope
// when any egress listener's hosts cover it.
func sidecarAllows(sc *networkingv1alpha3.Sidecar, workloadNS string, svc *Service) bool {
	for _, eg := range sc.GetEgress() {
		for _, h := range eg.GetHosts() {
			ns, host, ok := strings.Cut(h, "/")
			if !ok {
				continue // Validation rejects hosts without a namespace.
			}
			switch ns {
			case "~":
				continue
			case ".":
				ns = workloadNS
			}
			if ns != "*" && ns != svc.Namespace {
				continue
			}
			if HostMatches(host, svc.Hostname) || host == svc.Name+"."+svc.Namespace+".svc" {
				return true
			}
		}
	}
	return false
}

// AsSidecar returns the config's spec, or an empty one if the config is
// of another kind.
func AsSidecar(c *Config) *networkingv1alpha3.Sidecar {
	if sc, ok := c.Spec.(*networkingv1alpha3.Sidecar); ok {
		return sc
	}
	return &networkingv1alpha3.Sidecar{}
}
