// Package model is pilotlight's mesh model: the services, workload
// endpoints, Istio configuration and mesh settings that discovery sources
// produce and that translation consumes, plus the Proxy parsed from an xDS
// node.
//
// Everything here is immutable once built. A Snapshot is assembled by a
// Builder, indexed once, and then shared read-only by every translation and
// every stream; a newer Snapshot replaces it wholesale and Diff says what
// changed between the two. The package does no I/O beyond decoding the mesh
// settings it is handed, and it must never import the generators, discovery
// or the xDS server.
package model
