// Package e2e holds pilotlight's end-to-end tests: pilotlight runs as a
// subprocess next to real peers (kube-apiserver, istio-agent, gRPC and
// Envoy clients) built from the Go module proxy, as described in
// shared/TESTBED.md.
//
// It is a module of its own so that the peers' heavy dependency graphs
// (k8s.io/kubernetes, istio.io/istio) never reach pilotlight's go.mod, and
// nothing in pilotlight may import it. The tests themselves arrive with the
// Kubernetes source; until then 'make e2e' only checks that this module
// builds and vets.
package e2e
