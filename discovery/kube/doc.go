// Package kube is the Kubernetes API server as a discovery source: shared
// informers for Services, EndpointSlices, Pods, Namespaces, Nodes, the mesh
// ConfigMap and the Istio CRDs feed one convert.Store, and a publisher turns
// it into model.Snapshots with the same contract as the file source.
//
// It owns what is specific to a live API server: nothing is published
// before every informer has listed (so a proxy never gets a partial mesh),
// Istio CRDs that are missing are watched for instead of failing, an API
// server outage is detected and reported while the informers keep serving
// their caches, and namespaces are filtered by --watch-namespaces and the
// mesh's discoverySelectors. Conversion rules live in convert and checks in
// validate; the package never imports the xDS server, and the one debounce
// is the xDS server's: changes here are only coalesced over a few
// milliseconds.
//
// Secrets are not watched yet: gateway credentials (credentialName) need
// them, and will add a label- or field-scoped Secret informer.
package kube
