package convert

import (
	"cmp"
	"net/netip"
	"slices"

	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/pilotlight/pilotlight/translate/model"
)

// registry gathers, during one Build, the Istio objects that declare
// services and workloads rather than configure traffic: ServiceEntries
// and WorkloadEntries. They become model.Services and model.Endpoints,
// like Kubernetes Services and Pods, and are not kept as Configs: a
// WorkloadEntry that moves is then an endpoint change, pushed over EDS
// alone.
type registry struct {
	entries   []*serviceEntry
	workloads workloadIndex
}

func newRegistry() *registry { return &registry{workloads: workloadIndex{}} }

// collect takes a ServiceEntry or WorkloadEntry and reports whether it
// did; other configs are left to the caller.
func (r *registry) collect(cfg *model.Config, obj runtime.Object) bool {
	switch cfg.Kind {
	case model.KindServiceEntry:
		if spec, ok := cfg.Spec.(*networkingv1alpha3.ServiceEntry); ok {
			se := &serviceEntry{namespace: cfg.Namespace, name: cfg.Name, labels: cfg.Labels, spec: spec}
			if meta, ok := obj.(metav1.Object); ok {
				se.created = meta.GetCreationTimestamp()
			}
			r.entries = append(r.entries, se)
		}
		return true
	case model.KindWorkloadEntry:
		if w := workloadEntryObject(cfg, obj); w != nil {
			r.workloads.add(w.namespace, w.labels, w)
		}
		return true
	}
	return false
}

// serviceEntry is one stored ServiceEntry.
type serviceEntry struct {
	namespace, name string
	created         metav1.Time
	labels          map[string]string
	spec            *networkingv1alpha3.ServiceEntry
}

// addServiceEntries adds every ServiceEntry's services and endpoints.
// A hostname belongs to one service: a Kubernetes Service keeps its own
// (taken holds their hostnames), and among ServiceEntries claiming one
// host the oldest wins, then the first by namespace and name, as istiod
// prefers the oldest.
func (s *Store) addServiceEntries(b *model.Builder, r *registry, mesh *meshv1alpha1.MeshConfig, pods podIndex, taken map[string]bool) {
	slices.SortStableFunc(r.entries, func(a, b *serviceEntry) int {
		return cmp.Or(a.created.Compare(b.created.Time), cmp.Compare(a.namespace, b.namespace), cmp.Compare(a.name, b.name))
	})
	for _, se := range r.entries {
		for _, svc := range se.services(mesh) {
			if taken[svc.Hostname] {
				continue
			}
			taken[svc.Hostname] = true
			b.AddService(svc)
			b.AddEndpoints(dedupEndpoints(s.serviceEntryEndpoints(se, svc, r.workloads, pods))...)
		}
	}
}

// services returns one service per host, named as written: ServiceEntry
// hosts are DNS names or wildcards, and unlike VirtualService hosts a
// name without dots is not expanded.
func (se *serviceEntry) services(mesh *meshv1alpha1.MeshConfig) []*model.Service {
	spec := se.spec
	resolution := resolutionOf(spec.GetResolution())
	ips, cidrs := splitAddresses(spec.GetAddresses())
	var selector map[string]string
	if ws := spec.GetWorkloadSelector(); ws != nil {
		selector = cloneMap(ws.GetLabels())
	}
	exportTo := serviceExportTo(spec.GetExportTo(), mesh)
	var out []*model.Service
	seen := map[string]bool{}
	for _, host := range spec.GetHosts() {
		if host == "" || seen[host] {
			continue
		}
		seen[host] = true
		svc := &model.Service{
			Hostname:     host,
			Name:         se.name,
			Namespace:    se.namespace,
			Addresses:    ips,
			CIDRs:        cidrs,
			Resolution:   resolution,
			Labels:       cloneMap(se.labels),
			Selector:     selector,
			MeshExternal: spec.GetLocation() == networkingv1alpha3.ServiceEntry_MESH_EXTERNAL,
			ExportTo:     exportTo,
			Origin:       model.FromServiceEntry,
		}
		for _, p := range spec.GetPorts() {
			port := model.Port{Name: p.GetName(), Number: p.GetNumber(), Protocol: model.ParseProtocol(p.GetProtocol())}
			if resolution == model.Passthrough {
				port.TargetPort = p.GetTargetPort()
			}
			svc.Ports = append(svc.Ports, port)
		}
		out = append(out, svc)
	}
	return out
}

// resolutionOf maps a ServiceEntry resolution to the model's. Validation
// rejects the kinds pilotlight cannot serve (DYNAMIC_DNS), so the default
// only guards against values newer than this code.
func resolutionOf(r networkingv1alpha3.ServiceEntry_Resolution) model.Resolution {
	switch r {
	case networkingv1alpha3.ServiceEntry_STATIC:
		return model.ClientSideLB
	case networkingv1alpha3.ServiceEntry_DNS:
		return model.DNSLB
	case networkingv1alpha3.ServiceEntry_DNS_ROUND_ROBIN:
		return model.DNSRoundRobin
	}
	return model.Passthrough
}

// splitAddresses separates IPs from CIDR ranges. A prefix as long as the
// address (1.2.3.4/32) is an IP; anything unparsable was rejected by
// validation and is skipped.
func splitAddresses(addrs []string) (ips, cidrs []string) {
	for _, a := range addrs {
		if ip, err := netip.ParseAddr(a); err == nil {
			ips = append(ips, ip.String())
			continue
		}
		p, err := netip.ParsePrefix(a)
		if err != nil {
			continue
		}
		if p.Bits() == p.Addr().BitLen() {
			ips = append(ips, p.Addr().String())
		} else {
			cidrs = append(cidrs, p.Masked().String())
		}
	}
	return ips, cidrs
}

// serviceEntryEndpoints returns the endpoints of one host of a
// ServiceEntry: its inline endpoints, or the WorkloadEntries and Pods of
// its namespace that its workloadSelector matches, or, for DNS
// resolutions with neither, the host itself.
func (s *Store) serviceEntryEndpoints(se *serviceEntry, svc *model.Service, workloads workloadIndex, pods podIndex) []*model.Endpoint {
	spec := se.spec
	dns := svc.Resolution == model.DNSLB || svc.Resolution == model.DNSRoundRobin
	var out []*model.Endpoint
	add := func(w *workloadEntry) {
		// Only DNS resolution turns names into addresses; unix sockets
		// are not supported (validation warns about them).
		if !w.hasIP() && (!dns || !w.hasHostName()) {
			return
		}
		for _, p := range spec.GetPorts() {
			out = append(out, w.endpointFor(svc.Hostname, p.GetName(), entryPort(w.ports, p)))
		}
	}
	switch ws := spec.GetWorkloadSelector(); {
	case ws != nil:
		for _, w := range workloads.candidates(se.namespace, ws.GetLabels()) {
			if selects(ws.GetLabels(), w.labels) {
				add(w)
			}
		}
		out = append(out, s.selectedPodEndpoints(svc, spec.GetPorts(), pods.candidates(se.namespace, ws.GetLabels()))...)
	case len(spec.GetEndpoints()) > 0:
		for _, ep := range spec.GetEndpoints() {
			add(newWorkloadEntry(se.namespace, "", ep, cloneMap(ep.GetLabels())))
		}
	case dns:
		// Nothing names the workloads: the proxy resolves the host.
		w := &workloadEntry{workload: workload{namespace: se.namespace, health: model.Healthy}, address: svc.Hostname}
		for _, p := range spec.GetPorts() {
			out = append(out, w.endpointFor(svc.Hostname, p.GetName(), entryPort(nil, p)))
		}
	}
	return out
}

// selectedPodEndpoints returns the endpoints of the Running Pods a
// ServiceEntry's workloadSelector matches, with the port each container
// port of the service port's name declares.
func (s *Store) selectedPodEndpoints(svc *model.Service, ports []*networkingv1alpha3.ServicePort, pods []*corev1.Pod) []*model.Endpoint {
	var out []*model.Endpoint
	for _, pod := range pods {
		if !selects(svc.Selector, pod.Labels) {
			continue
		}
		w, ips, ok := s.podWorkload(pod)
		if !ok {
			continue
		}
		named := containerPorts(pod)
		for _, p := range ports {
			for _, ip := range ips {
				out = append(out, w.endpoint(svc.Hostname, p.GetName(), ip, entryPort(named, p)))
			}
		}
	}
	return out
}

// entryPort is where a workload serves a ServiceEntry port, in Istio's
// order: the workload's own port of that name, else the entry's
// targetPort, else the port number itself.
func entryPort(named map[string]uint32, p *networkingv1alpha3.ServicePort) uint32 {
	if n := named[p.GetName()]; n > 0 {
		return n
	}
	if p.GetTargetPort() > 0 {
		return p.GetTargetPort()
	}
	return p.GetNumber()
}

// containerPorts maps a Pod's named container ports to their numbers.
func containerPorts(pod *corev1.Pod) map[string]uint32 {
	out := map[string]uint32{}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name != "" {
				out[p.Name] = uint32(p.ContainerPort)
			}
		}
	}
	return out
}
