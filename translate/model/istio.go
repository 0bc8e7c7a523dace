package model

import (
	"cmp"
	"slices"
	"strings"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
)

// MeshGateway is the reserved gateway name that binds a VirtualService to
// every sidecar (and proxyless client) rather than to a Gateway.
const MeshGateway = "mesh"

// ResolveConfigHost turns a host written in an Istio config in namespace
// ns into a hostname, as Istio does: a name without dots is short for
// NAME.NS.svc.DOMAIN; anything else (an FQDN, a wildcard, NAME.NS) is
// taken as written.
func (s *Snapshot) ResolveConfigHost(host, ns string) string {
	if host == "*" || strings.Contains(host, ".") {
		return host
	}
	return host + "." + ns + ".svc." + s.suffix
}

// HostMatches reports whether a config host (possibly a wildcard such as
// *.example.com or *) covers hostname.
func HostMatches(pattern, hostname string) bool {
	if pattern == hostname || pattern == "*" {
		return true
	}
	if rest, ok := strings.CutPrefix(pattern, "*"); ok {
		return strings.HasSuffix(hostname, rest)
	}
	return false
}

// visibleTo reports whether a config exported with exportTo is visible
// from namespace ns. An empty exportTo means everywhere.
func visibleTo(exportTo []string, configNS, ns string) bool {
	if len(exportTo) == 0 {
		return true
	}
	for _, e := range exportTo {
		if e == "*" || e == ns || (e == "." && configNS == ns) {
			return true
		}
	}
	return false
}

// VirtualServiceFor returns the VirtualService that routes hostname for
// a sidecar or proxyless client in namespace ns (bound to the mesh
// gateway), or nil. When several claim the host, one from the client's own
// namespace wins, then the service's namespace, then the first by
// namespace and name; Analyze reports the others. Delegating rules come
// with their delegates' rules merged in.
func (s *Snapshot) VirtualServiceFor(hostname, ns string) *Config {
	var candidates []*Config
	for _, c := range s.hostIndex[KindVirtualService].lookup(hostname) {
		vs := AsVirtualService(c)
		if bindsMesh(vs.GetGateways()) && visibleTo(vs.GetExportTo(), c.Namespace, ns) {
			candidates = append(candidates, c)
		}
	}
	return preferred(candidates, ns, s.serviceNamespace(hostname))
}

// DestinationRuleFor returns the DestinationRule for hostname seen from a
// workload in namespace ns with these labels, with Istio's precedence: a
// rule in the client's namespace, then in the service's namespace, then
// in the mesh root namespace; within a namespace an exact host beats a
// wildcard, and among rules for the same host a rule whose workload
// selector selects the client beats one without a selector, then the
// first by name. A rule with a workload selector applies only to
// workloads of its own namespace; as in Istio, one there that does not
// select the client still hides the other namespaces' rules for the
// host.
func (s *Snapshot) DestinationRuleFor(hostname, ns string, labels map[string]string) *Config {
	var exact, wild []*Config
	for _, c := range s.hostIndex[KindDestinationRule].lookup(hostname) {
		dr := AsDestinationRule(c)
		// A rule with a workload selector is its namespace's alone,
		// whatever its exportTo says.
		visible := visibleTo(dr.GetExportTo(), c.Namespace, ns)
		if dr.GetWorkloadSelector() != nil {
			visible = c.Namespace == ns
		}
		if !visible {
			continue
		}
		if s.ResolveConfigHost(dr.GetHost(), c.Namespace) == hostname {
			exact = append(exact, c)
		} else {
			wild = append(wild, c)
		}
	}
	svcNS := s.serviceNamespace(hostname)
	root := s.mesh.GetRootNamespace()
	for _, want := range []string{ns, svcNS, root} {
		for _, list := range [][]*Config{exact, wild} {
			var fallback *Config
			found := false
			for _, c := range list {
				if c.Namespace != want {
					continue
				}
				found = true
				sel := AsDestinationRule(c).GetWorkloadSelector()
				if sel == nil {
					fallback = cmp.Or(fallback, c)
				} else if Selects(sel.GetMatchLabels(), labels) {
					return c
				}
			}
			if found {
				return fallback
			}
		}
	}
	return nil
}

func (s *Snapshot) serviceNamespace(hostname string) string {
	if svc := s.byHost[hostname]; svc != nil {
		return svc.Namespace
	}
	return ""
}

func bindsMesh(gateways []string) bool {
	return len(gateways) == 0 || slices.Contains(gateways, MeshGateway)
}

// preferred picks among configs claiming one host: the client's
// namespace first, then the service's, then the first in order.
func preferred(cs []*Config, ns, svcNS string) *Config {
	if len(cs) == 0 {
		return nil
	}
	for _, want := range []string{ns, svcNS} {
		for _, c := range cs {
			if c.Namespace == want {
				return c
			}
		}
	}
	return cs[0]
}

// hostIndex finds the configs whose hosts cover a hostname without
// scanning every config: exact hosts by map, wildcards by a short list.
type hostIndex struct {
	exact    map[string][]*Config
	wildcard []wildcardHost
}

type wildcardHost struct {
	pattern string
	config  *Config
}

// indexHosts indexes configs (sorted by namespace and name) by the hosts
// hostsOf returns, resolved in each config's namespace.
func (s *Snapshot) indexHosts(configs []*Config, hostsOf func(*Config) []string) *hostIndex {
	idx := &hostIndex{exact: map[string][]*Config{}}
	for _, c := range configs {
		seen := map[string]bool{}
		for _, h := range hostsOf(c) {
			host := s.ResolveConfigHost(h, c.Namespace)
			if seen[host] {
				continue
			}
			seen[host] = true
			if strings.HasPrefix(host, "*") {
				idx.wildcard = append(idx.wildcard, wildcardHost{host, c})
			} else {
				idx.exact[host] = append(idx.exact[host], c)
			}
		}
	}
	return idx
}

// lookup returns the configs covering hostname, each once, in config
// order.
func (idx *hostIndex) lookup(hostname string) []*Config {
	if idx == nil {
		return nil
	}
	out := slices.Clone(idx.exact[hostname])
	for _, w := range idx.wildcard {
		if HostMatches(w.pattern, hostname) && !slices.Contains(out, w.config) {
			out = append(out, w.config)
		}
	}
	slices.SortStableFunc(out, func(a, b *Config) int { return compareConfigKeys(a.Key(), b.Key()) })
	return out
}

// AsVirtualService returns the config's spec, or an empty one if the
// config is of another kind (so callers never panic on bad input).
func AsVirtualService(c *Config) *networkingv1alpha3.VirtualService {
	if vs, ok := c.Spec.(*networkingv1alpha3.VirtualService); ok {
		return vs
	}
	return &networkingv1alpha3.VirtualService{}
}

// AsDestinationRule returns the config's spec, or an empty one if the
// config is of another kind.
func AsDestinationRule(c *Config) *networkingv1alpha3.DestinationRule {
	if dr, ok := c.Spec.(*networkingv1alpha3.DestinationRule); ok {
		return dr
	}
	return &networkingv1alpha3.DestinationRule{}
}

// HasSubsets reports whether any DestinationRule defines subsets. Only
// then do endpoint assignments depend on which rule a client sees.
func (s *Snapshot) HasSubsets() bool { return s.hasSubsets }
