// Package convert turns typed Kubernetes and Istio client-go objects into
// the mesh model, following the rules istiod applies: Services become
// model.Services named NAME.NS.svc.DOMAIN, EndpointSlices (or, failing
// those, the Pods a Service selects) become model.Endpoints with the
// workload's labels, service account and locality. ServiceEntries become
// one model.Service per host, with endpoints from their endpoints list or
// from the WorkloadEntries and Pods their workloadSelector matches;
// WorkloadEntries also serve the Kubernetes Services that select them.
// Other Istio objects become model.Configs carrying their istio.io/api
// spec.
//
// A Store holds the current objects of a source keyed by kind, namespace
// and name; Build converts them into a Snapshot. The file source fills a
// fresh Store per load; the Kubernetes source keeps one and feeds it from
// informer events. The package does no I/O and never modifies the objects it
// is given: everything a Snapshot holds is a copy or was built here.
package convert
