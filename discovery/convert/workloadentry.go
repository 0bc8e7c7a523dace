package convert

import (
	"net/netip"
	"strings"

	istioapimeta "istio.io/api/meta/v1alpha1"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	networkingv1alpha3client "istio.io/client-go/pkg/apis/networking/v1alpha3"
	networkingv1beta1 "istio.io/client-go/pkg/apis/networking/v1beta1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/pilotlight/pilotlight/translate/model"
)

// Istio's names for a WorkloadEntry's locality label and health reporting.
const (
	// LabelLocality carries a workload's locality as region.zone.subzone
	// when the WorkloadEntry's locality field is empty.
	LabelLocality = "istio-locality"
	// AnnotationHealthChecks marks a WorkloadEntry whose health is
	// reported by its agent in the Healthy status condition; without it
	// the entry is always healthy.
	AnnotationHealthChecks = "proxy.istio.io/health-checks-enabled"
	// ConditionHealthy is the status condition that agent writes.
	ConditionHealthy = "Healthy"
)

// workloadEntry is one workload outside Kubernetes' own bookkeeping: a
// WorkloadEntry object, or one entry of a ServiceEntry's endpoints list.
// It becomes an endpoint of every service port that selects it.
type workloadEntry struct {
	workload
	// address is an IP, a host name (usable by DNS ServiceEntries only)
	// or a unix:// socket path (not supported, skipped).
	address string
	// ports maps service port names to the port the workload listens on.
	ports  map[string]uint32
	weight uint32
}

// newWorkloadEntry reads a WorkloadEntry spec. namespace and name are the
// object's; a ServiceEntry's inline endpoint has the ServiceEntry's
// namespace and no name.
func newWorkloadEntry(namespace, name string, spec *networkingv1alpha3.WorkloadEntry, labels map[string]string) *workloadEntry {
	w := &workloadEntry{
		workload: workload{
			namespace:      namespace,
			name:           name,
			labels:         labels,
			serviceAccount: spec.GetServiceAccount(),
			locality:       workloadEntryLocality(spec.GetLocality(), labels),
			health:         model.Healthy,
		},
		address: spec.GetAddress(),
		ports:   spec.GetPorts(),
		weight:  spec.GetWeight(),
	}
	return w
}

// workloadEntryObject reads a stored WorkloadEntry: its spec (already
// copied into cfg), labels and health. Labels merge the spec's and the
// object's, the object's winning, as Istio merges them.
func workloadEntryObject(cfg *model.Config, obj runtime.Object) *workloadEntry {
	spec, ok := cfg.Spec.(*networkingv1alpha3.WorkloadEntry)
	if !ok {
		return nil
	}
	labels := mergeLabels(spec.GetLabels(), cfg.Labels)
	w := newWorkloadEntry(cfg.Namespace, cfg.Name, spec, labels)
	if !workloadEntryHealthy(cfg.Annotations, workloadEntryStatus(obj)) {
		w.health = model.Unhealthy
	}
	return w
}

// endpointFor builds the workload's endpoint for one service port.
func (w *workloadEntry) endpointFor(host, portName string, port uint32) *model.Endpoint {
	e := w.endpoint(host, portName, w.address, port)
	e.Weight = w.weight
	return e
}

// hasIP reports whether the address is an IP, which every resolution
// accepts; host names suit DNS resolution only.
func (w *workloadEntry) hasIP() bool {
	_, err := netip.ParseAddr(w.address)
	return err == nil
}

// hasHostName reports whether the address is a DNS name.
func (w *workloadEntry) hasHostName() bool {
	return w.address != "" && !w.hasIP() && !strings.HasPrefix(w.address, unixAddressPrefix)
}

const unixAddressPrefix = "unix://"

// kubeWorkloadEndpoints returns the endpoints a Kubernetes Service gets from the
// WorkloadEntries it selects, as istiod adds them: only IP workloads
// count (a Service cannot resolve names), and each service port maps to a
// numeric target port as is, a named target port through the entry's
// ports (an entry without that name does not serve the port), and no
// target port to the service port itself.
func kubeWorkloadEndpoints(ix workloadIndex, svc *corev1.Service, host string) []*model.Endpoint {
	var out []*model.Endpoint
	for _, w := range ix.candidates(svc.Namespace, svc.Spec.Selector) {
		if !w.hasIP() || !selects(svc.Spec.Selector, w.labels) {
			continue
		}
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			port := uint32(sp.Port)
			switch tp := sp.TargetPort; {
			case tp.Type == intstr.String && tp.StrVal != "":
				n, ok := w.ports[tp.StrVal]
				if !ok || n == 0 {
					continue
				}
				port = n
			case tp.Type == intstr.Int && tp.IntVal > 0:
				port = uint32(tp.IntVal)
			}
			out = append(out, w.endpointFor(host, sp.Name, port))
		}
	}
	return out
}

// workloadIndex indexes WorkloadEntries, like podIndex does Pods.
type workloadIndex = labelIndex[*workloadEntry]

// workloadEntryLocality is the locality field (region/zone/subzone), or
// failing that Istio's locality label, which writes the same with dots
// because a label value cannot hold a slash.
func workloadEntryLocality(field string, labels map[string]string) model.Locality {
	if field == "" {
		field = strings.ReplaceAll(labels[LabelLocality], ".", "/")
	}
	if field == "" {
		return model.Locality{}
	}
	return model.ParseLocality(field)
}

// workloadEntryHealthy: an entry is healthy unless its agent reports
// health (the annotation) and the last report is not a Healthy=True
// condition, so that a workload that never reported gets no traffic.
func workloadEntryHealthy(annotations map[string]string, status *istioapimeta.IstioStatus) bool {
	if annotations[AnnotationHealthChecks] != "true" {
		return true
	}
	for _, c := range status.GetConditions() {
		if c.GetType() == ConditionHealthy {
			return c.GetStatus() == "True"
		}
	}
	return false
}

// workloadEntryStatus returns the status of a WorkloadEntry of any served
// version, or nil.
func workloadEntryStatus(obj runtime.Object) *istioapimeta.IstioStatus {
	switch o := obj.(type) {
	case *networkingv1.WorkloadEntry:
		return &o.Status
	case *networkingv1beta1.WorkloadEntry:
		return &o.Status
	case *networkingv1alpha3client.WorkloadEntry:
		return &o.Status
	}
	return nil
}

// mergeLabels lays over on base into a new map; nil when both are empty.
func mergeLabels(base, over map[string]string) map[string]string {
	if len(base) == 0 {
		return cloneMap(over)
	}
	out := cloneMap(base)
	for k, v := range over {
		out[k] = v
	}
	return out
}
