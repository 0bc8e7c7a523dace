// Package networking translates Istio's traffic API — VirtualService
// routes and DestinationRule traffic policies — into Envoy route and
// cluster settings. Both the sidecar and the proxyless generators use it;
// a Target says which dialect to write, because gRPC implements a subset
// of Envoy's route API and reads some of it differently (timeouts go in
// max_stream_duration, only gRPC status codes can be retried).
//
// Like every generator it is pure. What cannot be translated for a target
// is left out here and reported by translate.Analyze, so the two must
// agree: each omission below names the check that reports it.
package networking

// Target is the proxy implementation a route or cluster is written for.
type Target int

const (
	// Envoy sidecars and gateways.
	Envoy Target = iota
	// GRPC is a proxyless gRPC client (grpc-go, grpc-java, grpc-node).
	GRPC
)
