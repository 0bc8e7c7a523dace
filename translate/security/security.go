// Package security assembles what Istio's security APIs add to a
// workload's inbound side, in istiod's order: CUSTOM authorization
// (ext_authz), then authentication, then AUDIT, DENY and ALLOW
// authorization. The generators call it once per inbound listener and
// put what it returns before their router or TCP proxy;
// translate/security/authz holds the translation itself.
//
// Everything here reads the Snapshot and the workload's InboundView only,
// so the view stays a complete cache key.
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
	p := authz.For(snap, v.Namespace, v.Labels)
	var jwt []*hcmv3.HttpFilter
	if f := authn.HTTPFilter(snap, v.Namespace, v.Labels); f != nil {
		jwt = []*hcmv3.HttpFilter{f}
	}
	return slices.Concat(authz.CustomHTTPFilters(snap, p), jwt, authz.HTTPFilters(snap, p))
}

// InboundNetworkFilters are the network filters an Envoy sidecar's
// inbound TCP filter chains run before the TCP proxy.
func InboundNetworkFilters(snap *model.Snapshot, v model.InboundView) []*listenerv3.Filter {
	p := authz.For(snap, v.Namespace, v.Labels)
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
