package convert

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/pilotlight/pilotlight/translate/model"
)

// LabelSubzone is the Node label Istio reads a locality's subzone from;
// region and zone come from the standard topology.kubernetes.io labels.
const LabelSubzone = "topology.istio.io/subzone"

// sliceEndpoints returns one endpoint per address and port of a slice. A
// slice port is matched to the Service port of the same name; ports the
// Service does not declare serve nothing and are skipped. FQDN slices are
// skipped as istiod does: they name hosts, not workload addresses.
func (s *Store) sliceEndpoints(slice *discoveryv1.EndpointSlice, svc *corev1.Service, host string) []*model.Endpoint {
	if slice.AddressType != discoveryv1.AddressTypeIPv4 && slice.AddressType != discoveryv1.AddressTypeIPv6 {
		return nil
	}
	var out []*model.Endpoint
	for i := range slice.Endpoints {
		ep := &slice.Endpoints[i]
		w := workload{namespace: slice.Namespace}
		nodeName := ""
		if ep.NodeName != nil {
			nodeName = *ep.NodeName
		}
		if ref := ep.TargetRef; ref != nil && ref.Kind == "Pod" {
			ns := ref.Namespace
			if ns == "" {
				ns = slice.Namespace
			}
			w.namespace = ns
			w.name = ref.Name
			if pod := s.pod(ns, ref.Name); pod != nil {
				w.fromPod(pod)
				if nodeName == "" {
					nodeName = pod.Spec.NodeName
				}
			}
		}
		w.locality = s.locality(nodeName, ep.Zone)
		w.health = health(ep.Conditions.Ready, ep.Conditions.Serving, ep.Conditions.Terminating)

		for _, p := range slice.Ports {
			if p.Port == nil {
				continue
			}
			name := ""
			if p.Name != nil {
				name = *p.Name
			}
			if !hasPortNamed(svc, name) {
				continue
			}
			for _, addr := range ep.Addresses {
				out = append(out, w.endpoint(host, name, addr, uint32(*p.Port)))
			}
		}
	}
	return out
}

// podEndpoints derives a selector Service's endpoints from the Running Pods
// it selects, as the EndpointSlice controller would: every pod IP (both
// families on dual-stack pods) for every Service port whose target port
// the Pod exposes. Readiness comes from the Pod's Ready condition, and a
// Pod being deleted is terminating.
func (s *Store) podEndpoints(svc *corev1.Service, host string, pods []*corev1.Pod) []*model.Endpoint {
	var out []*model.Endpoint
	for _, pod := range pods {
		if !selects(svc.Spec.Selector, pod.Labels) {
			continue
		}
		w, ips, ok := s.podWorkload(pod)
		if !ok {
			continue
		}
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			target, ok := targetPort(pod, sp)
			if !ok {
				continue
			}
			for _, ip := range ips {
				out = append(out, w.endpoint(host, sp.Name, ip, target))
			}
		}
	}
	return out
}

// workload is what every endpoint of one Pod (or one slice entry) shares.
type workload struct {
	namespace, name string
	labels          map[string]string
	serviceAccount  string
	locality        model.Locality
	health          model.HealthStatus
}

func (w *workload) fromPod(pod *corev1.Pod) {
	w.labels = cloneMap(pod.Labels)
	w.serviceAccount = podServiceAccount(pod)
}

// endpoint builds one endpoint. Endpoints of one workload share its label
// map; the Snapshot treats it as read-only.
func (w *workload) endpoint(host, portName, addr string, port uint32) *model.Endpoint {
	return &model.Endpoint{
		ServiceHostname: host,
		ServicePortName: portName,
		Address:         addr,
		Port:            port,
		Labels:          w.labels,
		ServiceAccount:  w.serviceAccount,
		Namespace:       w.namespace,
		WorkloadName:    w.name,
		Locality:        w.locality,
		Health:          w.health,
	}
}

// health maps EndpointSlice conditions to Envoy's health status. A nil
// Ready condition means ready, as the EndpointSlice API defines; an
// endpoint that still serves while terminating is draining: it may finish
// what it has but gets nothing new.
func health(ready, serving, terminating *bool) model.HealthStatus {
	switch {
	case ready == nil || *ready:
		return model.Healthy
	case isTrue(serving) && isTrue(terminating):
		return model.Draining
	}
	return model.Unhealthy
}

// locality reads region and subzone from the Node's labels; the zone
// written in the slice entry wins over the Node's, since the slice is the
// more specific record.
func (s *Store) locality(nodeName string, zone *string) model.Locality {
	var l model.Locality
	if node := s.node(nodeName); node != nil {
		l.Region = node.Labels[corev1.LabelTopologyRegion]
		l.Zone = node.Labels[corev1.LabelTopologyZone]
		l.SubZone = node.Labels[LabelSubzone]
	}
	if zone != nil && *zone != "" {
		l.Zone = *zone
	}
	return l
}

// podServiceAccount returns the Pod's service account. An empty one means
// "default": the API server's ServiceAccount admission fills that in, so a
// hand-written Pod that omits it runs as default in a real cluster too.
func podServiceAccount(pod *corev1.Pod) string {
	switch {
	case pod.Spec.ServiceAccountName != "":
		return pod.Spec.ServiceAccountName
	case pod.Spec.DeprecatedServiceAccount != "":
		return pod.Spec.DeprecatedServiceAccount
	}
	return "default"
}

func podIPs(pod *corev1.Pod) []string {
	var out []string
	for _, ip := range pod.Status.PodIPs {
		if ip.IP != "" {
			out = append(out, ip.IP)
		}
	}
	if len(out) == 0 && pod.Status.PodIP != "" {
		out = append(out, pod.Status.PodIP)
	}
	return out
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// targetPort resolves a Service port's target on one Pod: a number is used
// as is (zero means the service port itself), a name is looked up among the
// Pod's container ports with the same protocol, including sidecar init
// containers, as the EndpointSlice controller does. A name the Pod does not
// expose means the Pod does not serve that port.
func targetPort(pod *corev1.Pod, sp *corev1.ServicePort) (uint32, bool) {
	if sp.TargetPort.Type != intstr.String {
		if sp.TargetPort.IntVal != 0 {
			return uint32(sp.TargetPort.IntVal), true
		}
		return uint32(sp.Port), true
	}
	want := protocolOrTCP(sp.Protocol)
	find := func(c *corev1.Container) (uint32, bool) {
		for _, cp := range c.Ports {
			if cp.Name == sp.TargetPort.StrVal && protocolOrTCP(cp.Protocol) == want {
				return uint32(cp.ContainerPort), true
			}
		}
		return 0, false
	}
	for i := range pod.Spec.Containers {
		if n, ok := find(&pod.Spec.Containers[i]); ok {
			return n, true
		}
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
			continue
		}
		if n, ok := find(c); ok {
			return n, true
		}
	}
	return 0, false
}

func protocolOrTCP(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

func hasPortNamed(svc *corev1.Service, name string) bool {
	for _, p := range svc.Spec.Ports {
		if p.Name == name {
			return true
		}
	}
	return false
}

// selects reports whether a non-empty selector matches the labels.
func selects(selector, labels map[string]string) bool {
	return len(selector) > 0 && model.Selects(selector, labels)
}

// dedupEndpoints drops later endpoints for an address and port already
// listed for the same service port. Two slices may briefly list one Pod
// while the controller moves it; keeping the first (slices are visited in
// name order) keeps the Snapshot version deterministic.
func dedupEndpoints(eps []*model.Endpoint) []*model.Endpoint {
	type id struct {
		port, addr string
		num        uint32
	}
	seen := make(map[id]struct{}, len(eps))
	out := eps[:0]
	for _, e := range eps {
		k := id{e.ServicePortName, e.Address, e.Port}
		if _, dup := seen[k]; dup {
			continue
		}
		seen[k] = struct{}{}
		out = append(out, e)
	}
	return out
}

func isTrue(b *bool) bool { return b != nil && *b }

func ptr[T any](v T) *T { return &v }

// podWorkload describes a Running Pod with an address as the workload
// behind its endpoints, with the health the EndpointSlice controller
// would give it; ok is false for Pods that cannot serve.
func (s *Store) podWorkload(pod *corev1.Pod) (w workload, ips []string, ok bool) {
	if pod.Status.Phase != corev1.PodRunning {
		return w, nil, false
	}
	if ips = podIPs(pod); len(ips) == 0 {
		return w, nil, false
	}
	ready := podReady(pod)
	terminating := pod.DeletionTimestamp != nil
	w = workload{namespace: pod.Namespace, name: pod.Name}
	w.fromPod(pod)
	w.locality = s.locality(pod.Spec.NodeName, nil)
	w.health = health(ptr(ready && !terminating), ptr(ready), ptr(terminating))
	return w, ips, true
}
