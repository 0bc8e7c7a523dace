package validate

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// service checks the fields the converter reads: type, addresses and
// ports. Port names must be unique because endpoints refer to ports by
// name; with a single port the name may be empty, as in Kubernetes.
func (r *report) service(svc *corev1.Service) {
	spec := field.NewPath("spec")
	switch svc.Spec.Type {
	case "", corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer:
	case corev1.ServiceTypeExternalName:
		if svc.Spec.ExternalName == "" {
			r.errorf(spec.Child("externalName"), "an ExternalName service needs externalName")
		} else {
			r.check(spec.Child("externalName"), svc.Spec.ExternalName, validation.IsDNS1123Subdomain(svc.Spec.ExternalName))
		}
	default:
		r.errorf(spec.Child("type"), "unknown service type %q", svc.Spec.Type)
	}

	if svc.Spec.ClusterIP != "" && svc.Spec.ClusterIP != corev1.ClusterIPNone {
		r.ip(spec.Child("clusterIP"), svc.Spec.ClusterIP)
	}
	for i, ip := range svc.Spec.ClusterIPs {
		if ip != corev1.ClusterIPNone {
			r.ip(spec.Child("clusterIPs").Index(i), ip)
		}
	}
	if svc.Spec.Type != corev1.ServiceTypeExternalName && svc.Spec.ClusterIP == "" && len(svc.Spec.ClusterIPs) == 0 {
		r.warnf(spec.Child("clusterIP"), "no clusterIP: the service gets no virtual address (the API server would allocate one; a file must say it, or None for headless)")
	}

	names := map[string]int{}
	for i, p := range svc.Spec.Ports {
		path := spec.Child("ports").Index(i)
		if !validPort(p.Port) {
			r.errorf(path.Child("port"), "port %d is outside 1-65535", p.Port)
		}
		switch p.Protocol {
		case "", corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP:
		default:
			r.errorf(path.Child("protocol"), "unknown protocol %q", p.Protocol)
		}
		if p.TargetPort.Type == intstr.Int && p.TargetPort.IntVal != 0 && !validPort(p.TargetPort.IntVal) {
			r.errorf(path.Child("targetPort"), "port %d is outside 1-65535", p.TargetPort.IntVal)
		}
		if p.TargetPort.Type == intstr.String {
			r.check(path.Child("targetPort"), p.TargetPort.StrVal, validation.IsValidPortName(p.TargetPort.StrVal))
		}
		switch {
		case p.Name == "" && len(svc.Spec.Ports) > 1:
			r.errorf(path.Child("name"), "a service with more than one port must name every port")
		case p.Name != "":
			r.check(path.Child("name"), p.Name, validation.IsDNS1123Label(p.Name))
			if first, dup := names[p.Name]; dup {
				r.errorf(path.Child("name"), "duplicate port name %q (also ports[%d])", p.Name, first)
			} else {
				names[p.Name] = i
			}
		}
	}
}

// endpointSlice checks that the slice says which Service it belongs to and
// that its addresses are of its address type.
func (r *report) endpointSlice(s *discoveryv1.EndpointSlice) {
	if s.Labels[discoveryv1.LabelServiceName] == "" {
		r.errorf(field.NewPath("metadata", "labels"), "label %s is required: it names the Service the slice belongs to", discoveryv1.LabelServiceName)
	}
	switch s.AddressType {
	case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6, discoveryv1.AddressTypeFQDN:
	default:
		r.errorf(field.NewPath("addressType"), "unknown address type %q (IPv4, IPv6 or FQDN)", s.AddressType)
	}
	for i, ep := range s.Endpoints {
		path := field.NewPath("endpoints").Index(i).Child("addresses")
		if len(ep.Addresses) == 0 {
			r.errorf(path, "an endpoint needs at least one address")
		}
		for j, a := range ep.Addresses {
			r.sliceAddress(path.Index(j), s.AddressType, a)
		}
	}
	names := map[string]int{}
	for i, p := range s.Ports {
		path := field.NewPath("ports").Index(i)
		if p.Port != nil && !validPort(*p.Port) {
			r.errorf(path.Child("port"), "port %d is outside 1-65535", *p.Port)
		}
		name := ""
		if p.Name != nil {
			name = *p.Name
		}
		if first, dup := names[name]; dup {
			r.errorf(path.Child("name"), "duplicate port name %q (also ports[%d])", name, first)
		} else {
			names[name] = i
		}
	}
}

func (r *report) sliceAddress(path *field.Path, typ discoveryv1.AddressType, a string) {
	switch typ {
	case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6:
		ip, err := netip.ParseAddr(a)
		switch {
		case err != nil:
			r.errorf(path, "%q is not an IP address", a)
		case typ == discoveryv1.AddressTypeIPv4 && !ip.Is4():
			r.errorf(path, "%q is not an IPv4 address", a)
		case typ == discoveryv1.AddressTypeIPv6 && (!ip.Is6() || ip.Is4In6()):
			r.errorf(path, "%q is not an IPv6 address", a)
		}
	case discoveryv1.AddressTypeFQDN:
		r.check(path, a, validation.IsDNS1123Subdomain(a))
	}
}

// pod checks the addresses endpoints are derived from.
func (r *report) pod(pod *corev1.Pod) {
	status := field.NewPath("status")
	if pod.Status.PodIP != "" {
		r.ip(status.Child("podIP"), pod.Status.PodIP)
	}
	for i, ip := range pod.Status.PodIPs {
		r.ip(status.Child("podIPs").Index(i).Child("ip"), ip.IP)
	}
}

func (r *report) ip(path *field.Path, s string) {
	if _, err := netip.ParseAddr(s); err != nil {
		r.errorf(path, "%q is not an IP address", s)
	}
}
