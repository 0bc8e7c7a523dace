// Package xds serves the mesh to proxies over ADS, SotW and delta. It owns
// the gRPC server side of xDS: go-control-plane's protocol server on top
// of pilotlight's own cache (Cache), the one debounce that turns snapshot
// updates into pushes, ACK/NACK tracking per proxy and type, stream
// admission and maximum stream age, the authentication of streams on the
// TLS port (auth.go), the workload certificates minted for plain Envoys
// (workload.go), metrics, and the debug endpoints
// (/ready, /debug/syncz, /debug/config_dump, /debug/problemz, whose JSON
// shapes live in xds/debugapi).
//
// The cache generates resources on demand with the translate generators,
// keyed by (snapshot, view, type, part), so proxies with equal views share
// generated and serialized resources; each resource is validated and
// marshalled once and versioned by a hash of its bytes. A watch is
// answered only when the client's state differs from what it subscribed
// to, which is also what keeps a NACKed version from being re-sent.
//
// xds never parses Kubernetes or Istio objects and never decides what a
// proxy's config is: that is translate's job. Subpackage client is
// pilotlight's own ADS client, for tests, the CLI and load generation.
package xds
