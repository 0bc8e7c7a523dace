// Package e2e holds pilotlight's end-to-end tests: pilotlight runs as a
// subprocess next to real peers (etcd, kube-apiserver,
// kube-controller-manager, istiod as the reference, Istio's pilot-agent)
// built from the Go module proxy, as described in shared/TESTBED.md.
//
// It is a module of its own so that the peers' heavy dependency graphs
// (k8s.io/kubernetes, istio.io/istio) never reach pilotlight's go.mod, and
// nothing in pilotlight may import it. Each peer is built by a small tool
// module under tools/ whose only job is that build.
//
// Layout:
//
//	framework/build      builds peers (cached in bin/ by tool go.sum hash), pilotlight, the backend and e2e-xds
//	framework/proc       subprocesses in their own process group, stopped at cleanup, logs on failure
//	framework/cluster    etcd + kube-apiserver + kube-controller-manager, Istio CRDs, kubelet-like helpers
//	framework/netns      a bridge and one network namespace per Pod, with addresses in 10.244.0.0/16
//	framework/workload   a Pod: its namespace, its backend (cmd/e2e-backend) and its Pod object
//	framework/pilotlight pilotlight as a subprocess with its own ServiceAccount token and RBAC
//	framework/istiod     istiod (pilot-discovery) as a subprocess, the reference the parity test compares with
//	framework/agent      Istio's pilot-agent in proxyless mode for a Pod: certificate files and gRPC bootstrap
//	framework/xdsapp     cmd/e2e-xds in a Pod's network namespace: xDS server and clients with xDS credentials
//	framework/tcpproxy   a TCP link the test can cut, for API server outages
//	framework/traffic    proxyless gRPC clients (grpc-go's xDS resolver) and call flows
//	framework/wait       polling with generous deadlines
//	kube/                the tests of the Kubernetes source, the CA and mesh security (through pilot-agent) against a real API server
//	parity/              istiod and pilotlight on one mesh: what each sends a sidecar and a gateway, compared
//
// The tests need root and iproute2 (network namespaces); without them they
// fail rather than skip, since CI has both. 'make e2e' runs them; the
// benchmark runs with
//
//	cd e2e && go test ./kube -run '^$' -bench FirstConfig -benchtime 1x
package e2e
