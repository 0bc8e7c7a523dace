package validate

import (
	"net/netip"
	"strings"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/pilotlight/pilotlight/translate/model"
)

const unixAddressPrefix = "unix://"

// serviceEntry checks what the converter needs to turn a ServiceEntry into
// services and endpoints, with Istio's rules: FQDN or wildcard hosts,
// addresses that are IPs or CIDRs, uniquely named ports, endpoints whose
// addresses suit the resolution, and a workload selector or endpoints but
// not both.
func (r *report) serviceEntry(se *networkingv1alpha3.ServiceEntry) {
	spec := field.NewPath("spec")
	resolution := se.GetResolution()
	if len(se.GetHosts()) == 0 {
		r.errorf(spec.Child("hosts"), "at least one host is required")
	}
	for i, h := range se.GetHosts() {
		r.serviceEntryHost(spec.Child("hosts").Index(i), h)
	}

	for i, a := range se.GetAddresses() {
		path := spec.Child("addresses").Index(i)
		if _, err := netip.ParseAddr(a); err == nil {
			continue
		}
		p, err := netip.ParsePrefix(a)
		switch {
		case err != nil:
			r.errorf(path, "%q is neither an IP address nor a CIDR range", a)
		case p.Bits() < p.Addr().BitLen() && resolution != networkingv1alpha3.ServiceEntry_NONE && resolution != networkingv1alpha3.ServiceEntry_STATIC:
			r.errorf(path, "CIDR range %q needs resolution NONE or STATIC", a)
		}
	}

	portNames := r.serviceEntryPorts(spec.Child("ports"), se.GetPorts())

	switch resolution {
	case networkingv1alpha3.ServiceEntry_NONE, networkingv1alpha3.ServiceEntry_STATIC,
		networkingv1alpha3.ServiceEntry_DNS, networkingv1alpha3.ServiceEntry_DNS_ROUND_ROBIN:
	default:
		r.errorf(spec.Child("resolution"), "resolution %s is not supported", resolution)
	}

	ws := se.GetWorkloadSelector()
	if ws != nil {
		if len(se.GetEndpoints()) > 0 {
			r.errorf(spec.Child("workloadSelector"), "a ServiceEntry has either a workloadSelector or endpoints, not both")
		}
		r.labels(spec.Child("workloadSelector", "labels"), ws.GetLabels())
	}
	dns := resolution == networkingv1alpha3.ServiceEntry_DNS || resolution == networkingv1alpha3.ServiceEntry_DNS_ROUND_ROBIN
	for i, ep := range se.GetEndpoints() {
		r.serviceEntryEndpoint(spec.Child("endpoints").Index(i), ep, dns, portNames)
	}
	switch {
	case dns && len(se.GetEndpoints()) == 0 && ws == nil:
		for i, h := range se.GetHosts() {
			if strings.Contains(h, "*") {
				r.errorf(spec.Child("hosts").Index(i), "%q is a wildcard: with DNS resolution and no endpoints, every host must be a name the proxy can resolve", h)
			}
		}
	case resolution == networkingv1alpha3.ServiceEntry_STATIC && len(se.GetEndpoints()) == 0 && ws == nil:
		r.warnf(spec.Child("endpoints"), "resolution STATIC with neither endpoints nor a workloadSelector: the service has no endpoints")
	}
	if resolution == networkingv1alpha3.ServiceEntry_DNS_ROUND_ROBIN && len(se.GetEndpoints()) > 1 {
		r.warnf(spec.Child("endpoints"), "resolution DNS_ROUND_ROBIN connects through one name: only the first endpoint is used")
	}

	// Plain TCP carries no host name, so a proxy cannot tell several
	// hosts on one port apart unless it forwards to whatever was dialled.
	if resolution != networkingv1alpha3.ServiceEntry_NONE && len(se.GetHosts()) > 1 {
		for i, p := range se.GetPorts() {
			if proto := model.ParseProtocol(p.GetProtocol()); !proto.IsHTTP() && proto != model.HTTPS && proto != model.TLS {
				r.errorf(spec.Child("ports").Index(i).Child("protocol"), "several hosts share port %d, which is neither HTTP nor TLS: nothing tells them apart (use one host, or resolution NONE)", p.GetNumber())
			}
		}
	}

	r.exportTo(spec.Child("exportTo"), se.GetExportTo())
	if len(se.GetSubjectAltNames()) > 0 {
		r.warnf(spec.Child("subjectAltNames"), "not used: upstream certificates are verified against the workloads' own identities only")
	}
}

// serviceEntryHost: a DNS name, possibly with a leading wildcard label;
// "*" alone would capture all traffic and is refused, as in Istio.
func (r *report) serviceEntryHost(path *field.Path, h string) {
	switch h {
	case "":
		r.errorf(path, "host must not be empty")
		return
	case "*":
		r.errorf(path, "host * would match every destination; name the hosts")
		return
	}
	name := strings.TrimPrefix(h, "*.")
	r.check(path, h, validation.IsDNS1123Subdomain(name))
	if !strings.Contains(h, ".") {
		r.warnf(path, "%q has no dots: ServiceEntry hosts are used as written, so VirtualServices and DestinationRules (which expand short names to NAME.NAMESPACE.svc.DOMAIN) cannot refer to it", h)
	}
}

// serviceEntryPorts checks the ports and returns their names.
func (r *report) serviceEntryPorts(path *field.Path, ports []*networkingv1alpha3.ServicePort) map[string]bool {
	if len(ports) == 0 {
		r.errorf(path, "at least one port is required")
	}
	names := map[string]bool{}
	numbers := map[uint32]bool{}
	for i, p := range ports {
		pp := path.Index(i)
		if p.GetNumber() < 1 || p.GetNumber() > 65535 {
			r.errorf(pp.Child("number"), "port %d is outside 1-65535", p.GetNumber())
		} else if numbers[p.GetNumber()] {
			r.errorf(pp.Child("number"), "port %d is declared twice", p.GetNumber())
		}
		numbers[p.GetNumber()] = true
		switch {
		case p.GetName() == "":
			r.errorf(pp.Child("name"), "name is required: endpoints refer to ports by name")
		case names[p.GetName()]:
			r.errorf(pp.Child("name"), "port name %q is declared twice", p.GetName())
		default:
			r.check(pp.Child("name"), p.GetName(), validation.IsDNS1123Label(p.GetName()))
		}
		names[p.GetName()] = true
		if p.GetProtocol() != "" && model.ParseProtocol(p.GetProtocol()) == model.Unsupported {
			r.errorf(pp.Child("protocol"), "unknown protocol %q", p.GetProtocol())
		}
		if p.GetTargetPort() > 65535 {
			r.errorf(pp.Child("targetPort"), "port %d is outside 1-65535", p.GetTargetPort())
		}
	}
	return names
}

// serviceEntryEndpoint checks one inline endpoint against the
// resolution: DNS accepts names, the others need IPs.
func (r *report) serviceEntryEndpoint(path *field.Path, ep *networkingv1alpha3.WorkloadEntry, dns bool, portNames map[string]bool) {
	addr := ep.GetAddress()
	_, ipErr := netip.ParseAddr(addr)
	switch {
	case addr == "":
		r.errorf(path.Child("address"), "address is required")
	case strings.HasPrefix(addr, unixAddressPrefix):
		if dns {
			r.errorf(path.Child("address"), "DNS resolution cannot use a unix domain socket")
		} else {
			r.warnf(path.Child("address"), "unix domain socket endpoints are not supported; this endpoint is ignored")
		}
	case ipErr == nil:
	case dns:
		r.check(path.Child("address"), addr, validation.IsDNS1123Subdomain(addr))
	default:
		r.errorf(path.Child("address"), "%q is not an IP address (only resolution DNS or DNS_ROUND_ROBIN resolves names)", addr)
	}
	for name, n := range ep.GetPorts() {
		if !portNames[name] {
			r.errorf(path.Child("ports").Key(name), "the ServiceEntry has no port named %q", name)
		}
		if n < 1 || n > 65535 {
			r.errorf(path.Child("ports").Key(name), "port %d is outside 1-65535", n)
		}
	}
	r.labels(path.Child("labels"), ep.GetLabels())
	r.workloadNetwork(path.Child("network"), ep.GetNetwork())
}

// workloadEntry checks a WorkloadEntry: an address, valid port numbers
// and labels (which Services and ServiceEntries select).
func (r *report) workloadEntry(we *networkingv1alpha3.WorkloadEntry) {
	spec := field.NewPath("spec")
	addr := we.GetAddress()
	_, ipErr := netip.ParseAddr(addr)
	switch {
	case addr == "":
		r.errorf(spec.Child("address"), "address is required")
	case strings.HasPrefix(addr, unixAddressPrefix):
		r.warnf(spec.Child("address"), "unix domain socket workloads are not supported; this workload is ignored")
	case ipErr == nil:
	default:
		r.check(spec.Child("address"), addr, validation.IsDNS1123Subdomain(addr))
		r.warnf(spec.Child("address"), "%q is a name: only ServiceEntries with DNS resolution use it, Kubernetes Services and STATIC ServiceEntries skip it", addr)
	}
	for name, n := range we.GetPorts() {
		path := spec.Child("ports").Key(name)
		r.check(path, name, validation.IsValidPortName(name))
		if n < 1 || n > 65535 {
			r.errorf(path, "port %d is outside 1-65535", n)
		}
	}
	r.labels(spec.Child("labels"), we.GetLabels())
	if sa := we.GetServiceAccount(); sa != "" {
		r.check(spec.Child("serviceAccount"), sa, validation.IsDNS1123Subdomain(sa))
	}
	r.workloadNetwork(spec.Child("network"), we.GetNetwork())
}

// workloadNetwork: pilotlight serves one network, so a network name
// changes nothing; say so rather than route as if it did.
func (r *report) workloadNetwork(path *field.Path, network string) {
	if network != "" {
		r.warnf(path, "ignored: pilotlight serves a single network and does not route through network gateways")
	}
}

// labels checks label keys and values as Kubernetes does.
func (r *report) labels(path *field.Path, labels map[string]string) {
	for _, e := range metav1validation.ValidateLabels(labels, path) {
		r.add(false, e.Field, e.ErrorBody())
	}
}

// exportTo accepts ".", "*", "~" (nowhere, alone) and namespace names.
func (r *report) exportTo(path *field.Path, exportTo []string) {
	for i, e := range exportTo {
		switch e {
		case ".", "*":
		case "~":
			if len(exportTo) > 1 {
				r.errorf(path.Index(i), `"~" (visible nowhere) cannot be combined with other entries`)
			}
		default:
			r.check(path.Index(i), e, validation.IsDNS1123Label(e))
		}
	}
}
