// Package discovery turns platform objects into pilotlight's mesh model.
//
// Its subpackages watch a source of truth — a directory of Kubernetes and
// Istio YAML (file), and later the Kubernetes API server (kube) — and
// publish immutable model.Snapshots together with the problems they found in
// the input. convert holds the object-to-model rules both sources share,
// and validate the checks that decide whether an object may be served.
//
// Discovery sits at the start of the one-way data flow: it must never import
// the xDS server, the CA or the translation generators, and nothing it
// publishes may be changed after it is handed over.
package discovery
