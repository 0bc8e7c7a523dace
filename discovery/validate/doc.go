// Package validate decides whether a decoded Kubernetes or Istio object may
// be served, and explains why not. Object returns model.Problems naming the
// object, the offending field and the reason; an error-level problem means
// the object is rejected (its last good version, if any, stays served),
// while a warning is served anyway.
//
// The checks are a first cut that grows kind by kind: object names, the
// Service and EndpointSlice fields the converter relies on, and the Istio
// fields without which a VirtualService, DestinationRule, ServiceEntry or
// Gateway means nothing, and the PeerAuthentication port-level settings
// istiod rejects. Strict decoding (unknown and duplicate fields) is
// the decoder's job, not this package's. validate does no I/O and never
// modifies what it checks.
package validate
