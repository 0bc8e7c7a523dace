// Package featuretest proves pilotlight end to end, in process, with real
// peers: the real xDS server on 127.0.0.1:0 fed by the real file source,
// and grpc-go's own xDS client and xDS-enabled server as the proxies, with
// real gRPC backends on loopback addresses. Tests assert on observed
// traffic, not on config.
package featuretest
