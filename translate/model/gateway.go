package model

import (
	"cmp"
	"slices"
	"strings"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
)

// GatewaysFor returns the Gateways that configure a router proxy with
// these labels: every Gateway, in any namespace, whose selector is a
// subset of them (an empty selector selects every router), sorted by
// namespace and name. Istio scopes Gateways to the router's namespace
// only when PILOT_SCOPE_GATEWAY_TO_NAMESPACE is set, which is off by
// default; pilotlight does not scope them.
func (s *Snapshot) GatewaysFor(labels map[string]string) []*Config {
	var out []*Config
	for _, c := range s.configs[KindGateway] {
		if Selects(AsGateway(c).GetSelector(), labels) {
			out = append(out, c)
		}
	}
	return out
}

// Selects reports whether a label selector (every key with its value)
// selects a workload with these labels. An empty selector selects all.
func Selects(selector, labels map[string]string) bool {
	for k, v := range selector {
		if w, ok := labels[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// GatewayName is how VirtualServices and routes name a Gateway:
// NAMESPACE/NAME.
func GatewayName(c *Config) string { return c.Namespace + "/" + c.Name }

// ResolveGatewayName turns a gateway reference written in a config in
// namespace ns into NAMESPACE/NAME: a bare name means a Gateway of the
// config's own namespace. The reserved name "mesh" stays as it is.
func ResolveGatewayName(ref, ns string) string {
	if ref == MeshGateway || strings.Contains(ref, "/") {
		return ref
	}
	return ns + "/" + ref
}

// VirtualServicesForGateway returns the VirtualServices bound to the
// Gateway named gateway (NAMESPACE/NAME) that a router in namespace
// proxyNS may use, those of the router's own namespace first and the
// rest by namespace and name, as Istio orders them. A VirtualService is
// usable when its exportTo makes it visible to the router's namespace.
// Delegating rules come with their delegates' rules merged in.
func (s *Snapshot) VirtualServicesForGateway(gateway, proxyNS string) []*Config {
	var out []*Config
	for _, c := range s.routable {
		vs := AsVirtualService(c)
		if !visibleTo(vs.GetExportTo(), c.Namespace, proxyNS) {
			continue
		}
		for _, g := range vs.GetGateways() {
			if ResolveGatewayName(g, c.Namespace) == gateway {
				out = append(out, c)
				break
			}
		}
	}
	slices.SortStableFunc(out, func(a, b *Config) int {
		return cmp.Compare(boolRank(a.Namespace != proxyNS), boolRank(b.Namespace != proxyNS))
	})
	return out
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// AsGateway returns the config's spec, or an empty one if the config is
// of another kind.
func AsGateway(c *Config) *networkingv1alpha3.Gateway {
	if gw, ok := c.Spec.(*networkingv1alpha3.Gateway); ok {
		return gw
	}
	return &networkingv1alpha3.Gateway{}
}

// DisableGatewayPortTranslation is the Service label that keeps gateways
// listening on Gateway server ports as written.
const DisableGatewayPortTranslation = "networking.istio.io/disable-gateway-port-translation"

// GatewayPorts maps Gateway server ports to the ports a router in
// namespace ns with these labels actually listens on, as istiod does:
// traffic reaches the router through a Service that selects it, so a
// server on that Service's port listens on the Service's target port
// (80 → 8080 for Istio's default ingress). The first Service by hostname
// wins a port; ports no Service maps stay as written.
func (s *Snapshot) GatewayPorts(ns string, labels map[string]string) map[uint32]uint32 {
	out := map[uint32]uint32{}
	for _, svc := range s.services {
		if svc.Origin != FromKubernetes || svc.Namespace != ns || len(svc.Selector) == 0 ||
			!Selects(svc.Selector, labels) || svc.Labels[DisableGatewayPortTranslation] == "true" {
			continue
		}
		for _, p := range svc.Ports {
			if _, taken := out[p.Number]; !taken && p.ContainerPort != 0 {
				out[p.Number] = p.ContainerPort
			}
		}
	}
	return out
}
