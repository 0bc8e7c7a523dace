// Package translate turns the mesh model into the Envoy resources each
// proxy receives. It owns the View types that decide which proxies may
// share generated resources, and dispatches to one generator per proxy
// flavour: translate/sidecar for Envoy sidecars, translate/gateway for
// Envoy gateways (router proxies), translate/grpcgen for proxyless gRPC.
// translate/networking holds the Istio traffic API translation they share,
// translate/security/mtls resolves which peer authentication mode each
// workload port enforces, translate/security (with authz and authn) the
// authorization and JWT filters in front of a workload's listeners, and
// translate/analyze reports what none of them carries out.
//
// Translation is pure: no I/O, no clock, no logger, sorted output. A
// generator reads the Snapshot and a View and nothing else, so a View's Key
// is a complete cache key by construction: two proxies with equal views get
// byte-identical resources. Never hand a generator the Proxy itself.
package translate
