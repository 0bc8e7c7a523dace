package model

import (
	"strings"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
)

// SidecarFor returns the Sidecar resource that scopes the outbound config
// of workloads in namespace ns: the namespace's own Sidecar without a
// workload selector, else the root namespace's, else nil (everything
// visible). Sidecars with a workload selector apply per workload and are
// not part of a namespace's view; Analyze reports them until they are.
func (s *Snapshot) SidecarFor(ns string) *Config {
	var root *Config
	for _, c := range s.configs[KindSidecar] {
		sc := AsSidecar(c)
		if sc.GetWorkloadSelector() != nil {
			continue
		}
		if c.Namespace == ns {
			return c
		}
		if c.Namespace == s.mesh.GetRootNamespace() && root == nil {
			root = c
		}
	}
	return root
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

// ServicesFor returns the services a proxy in namespace ns is configured
// for, sorted by hostname: those exported to it, narrowed by its Sidecar's
// egress hosts.
func (s *Snapshot) ServicesFor(ns string) []*Service {
	sidecar := s.SidecarFor(ns)
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

// InScope reports whether ServicesFor(ns) includes svc.
func (s *Snapshot) InScope(svc *Service, ns string) bool {
	if !visibleTo(svc.ExportTo, svc.Namespace, ns) {
		return false
	}
	sidecar := s.SidecarFor(ns)
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
