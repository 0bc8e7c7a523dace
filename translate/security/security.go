// Package security assembles what Istio's security APIs add in front of a
// workload's own listeners (a sidecar's inbound side, a proxyless
// server, a gateway's servers), in istiod's order: CUSTOM authorization
// (ext_authz), then authentication, then AUDIT, DENY and ALLOW
// authorization. The generators call it once per listener build and put
// what it returns before their router (after a gateway's other filters'
// place: before fault and CORS) or TCP proxy; translate/security/authz
// and translate/security/authn hold the translation itself.
//
// Everything here reads the Snapshot and the workload's namespace and
// labels, which are in the view each generator is handed, so views stay
// complete cache keys.
package security

import (
	"slices"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/security/authn"
	"github.com/pilotlight/pilotlight/translate/security/authz"
)

// InboundHTTPFilters are the HTTP filters an Envoy sidecar's inbound
// connection managers run before the router.
func InboundHTTPFilters(snap *model.Snapshot, v model.InboundView) []*hcmv3.HttpFilter {
	return HTTPFilters(snap, v.Namespace, v.Labels)
}

// InboundNetworkFilters are the network filters an Envoy sidecar's
// inbound TCP filter chains run before the TCP proxy.
func InboundNetworkFilters(snap *model.Snapshot, v model.InboundView) []*listenerv3.Filter {
	return NetworkFilters(snap, v.Namespace, v.Labels)
}

// GatewayHTTPFilters and GatewayNetworkFilters are the same for a
// gateway's servers: policies select gateways by their labels, as they
// select any workload.
func GatewayHTTPFilters(snap *model.Snapshot, v model.OutboundView) []*hcmv3.HttpFilter {
	return HTTPFilters(snap, v.Namespace, v.Labels)
}

// GatewayNetworkFilters: see GatewayHTTPFilters.
func GatewayNetworkFilters(snap *model.Snapshot, v model.OutboundView) []*listenerv3.Filter {
	return NetworkFilters(snap, v.Namespace, v.Labels)
}

// HTTPFilters are the HTTP filters of an Envoy workload in namespace ns
// with labels.
func HTTPFilters(snap *model.Snapshot, ns string, labels map[string]string) []*hcmv3.HttpFilter {
	p := authz.For(snap, ns, labels)
	var jwt []*hcmv3.HttpFilter
	if f := authn.HTTPFilter(snap, ns, labels); f != nil {
		jwt = []*hcmv3.HttpFilter{f}
	}
	return slices.Concat(authz.CustomHTTPFilters(snap, p), jwt, authz.HTTPFilters(snap, p))
}

// NetworkFilters are the network filters of an Envoy workload's TCP
// filter chains.
func NetworkFilters(snap *model.Snapshot, ns string, labels map[string]string) []*listenerv3.Filter {
	p := authz.For(snap, ns, labels)
	if p.Empty() {
		return nil
	}
	return authz.NetworkFilters(snap, p)
}

// GRPCServerFilters are the HTTP filters a proxyless gRPC server runs
// before its router. gRPC has no jwt_authn: RequestAuthentications do not
// apply, and AuthorizationPolicy conditions on tokens are unenforceable
// there (see authz).
func GRPCServerFilters(snap *model.Snapshot, v model.InboundView) []*hcmv3.HttpFilter {
	p := authz.For(snap, v.Namespace, v.Labels)
	if p.Empty() {
		return nil
	}
	return authz.GRPCFilters(snap, p)
}
