package validate

import (
	"net/netip"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func (r *report) virtualService(vs *networkingv1alpha3.VirtualService) {
	spec := field.NewPath("spec")
	// A VirtualService without hosts is a delegate: it routes only what
	// a root VirtualService's HTTP rule hands it, so it has no gateways
	// and no TCP or TLS routes of its own, and cannot delegate again.
	delegate := len(vs.GetHosts()) == 0
	if delegate {
		if len(vs.GetGateways()) > 0 {
			r.errorf(spec.Child("gateways"), "a delegate VirtualService (one without hosts) must not name gateways: its root's apply")
		}
		if len(vs.GetTcp()) > 0 {
			r.errorf(spec.Child("tcp"), "a delegate VirtualService (one without hosts) has HTTP routes only")
		}
		if len(vs.GetTls()) > 0 {
			r.errorf(spec.Child("tls"), "a delegate VirtualService (one without hosts) has HTTP routes only")
		}
	}
	r.hosts(spec.Child("hosts"), vs.GetHosts())
	for i, h := range vs.GetHttp() {
		if d := h.GetDelegate(); d != nil {
			path := spec.Child("http").Index(i)
			switch {
			case delegate:
				r.errorf(path.Child("delegate"), "a delegate VirtualService cannot delegate again")
			case d.GetName() == "":
				r.errorf(path.Child("delegate", "name"), "name is required")
			case len(h.GetRoute()) > 0 || h.GetRedirect() != nil:
				r.errorf(path, "a rule that delegates must not set route or redirect")
			}
		}
		for j, d := range h.GetRoute() {
			r.destination(spec.Child("http").Index(i).Child("route").Index(j), d.GetDestination(), d.GetWeight())
		}
		if m := h.GetMirror(); m != nil && m.GetHost() == "" {
			r.errorf(spec.Child("http").Index(i).Child("mirror", "host"), "host is required")
		}
	}
	for i, t := range vs.GetTcp() {
		for j, d := range t.GetRoute() {
			r.destination(spec.Child("tcp").Index(i).Child("route").Index(j), d.GetDestination(), d.GetWeight())
		}
		for j, m := range t.GetMatch() {
			r.subnets(spec.Child("tcp").Index(i).Child("match").Index(j).Child("destinationSubnets"), m.GetDestinationSubnets())
		}
	}
	for i, t := range vs.GetTls() {
		for j, d := range t.GetRoute() {
			r.destination(spec.Child("tls").Index(i).Child("route").Index(j), d.GetDestination(), d.GetWeight())
		}
		if len(t.GetMatch()) == 0 {
			r.errorf(spec.Child("tls").Index(i).Child("match"), "a TLS rule needs at least one match (on SNI hosts)")
		}
		for j, m := range t.GetMatch() {
			path := spec.Child("tls").Index(i).Child("match").Index(j)
			if len(m.GetSniHosts()) == 0 {
				r.errorf(path.Child("sniHosts"), "at least one SNI host is required")
			}
			r.subnets(path.Child("destinationSubnets"), m.GetDestinationSubnets())
		}
	}
}

// subnets checks destination subnets: IP addresses or CIDRs.
func (r *report) subnets(path *field.Path, subnets []string) {
	for i, s := range subnets {
		if _, err := netip.ParsePrefix(s); err == nil {
			continue
		}
		if _, err := netip.ParseAddr(s); err != nil {
			r.errorf(path.Index(i), "%q is neither an IP address nor a CIDR", s)
		}
	}
}

// destination checks one weighted route destination.
func (r *report) destination(path *field.Path, d *networkingv1alpha3.Destination, weight int32) {
	if d.GetHost() == "" {
		r.errorf(path.Child("destination", "host"), "host is required")
	}
	if weight < 0 {
		r.errorf(path.Child("weight"), "weight %d is negative", weight)
	}
	if p := d.GetPort(); p != nil && p.GetNumber() > 65535 {
		r.errorf(path.Child("destination", "port", "number"), "port %d is outside 1-65535", p.GetNumber())
	}
}

func (r *report) destinationRule(dr *networkingv1alpha3.DestinationRule) {
	spec := field.NewPath("spec")
	if dr.GetHost() == "" {
		r.errorf(spec.Child("host"), "host is required")
	}
	names := map[string]int{}
	for i, s := range dr.GetSubsets() {
		path := spec.Child("subsets").Index(i).Child("name")
		if s.GetName() == "" {
			r.errorf(path, "subset name is required")
			continue
		}
		if first, dup := names[s.GetName()]; dup {
			r.errorf(path, "duplicate subset %q (also subsets[%d])", s.GetName(), first)
		} else {
			names[s.GetName()] = i
		}
	}
}

// hosts rejects empty host names, which would otherwise match nothing and
// hide a typo.
func (r *report) hosts(path *field.Path, hosts []string) {
	for i, h := range hosts {
		if h == "" {
			r.errorf(path.Index(i), "host must not be empty")
		}
	}
}
