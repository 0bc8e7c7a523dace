package sidecar

import (
	"net/netip"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/pilotlight/pilotlight/translate/eds"
	"github.com/pilotlight/pilotlight/translate/model"
)

// inboundPort is one port the workload serves, as its inbound filter
// chains and its inbound|PORT|| cluster see it.
type inboundPort struct {
	// port is the port the workload's traffic arrives on (a service's
	// target port, or a Sidecar ingress listener's port).
	port     uint32
	protocol model.Protocol
	// hostname and servicePort name the port in route decorators: the
	// service's, or for an ingress listener no service serves, the
	// Sidecar's NAME.NAMESPACE and the port itself.
	hostname    string
	servicePort uint32
	// endpoint is where the inbound cluster sends traffic; nil passes it
	// through to the original destination, the workload's own address.
	endpoint *corev3.Address
}

// inboundPorts lists the ports a workload serves, sorted by port. A
// Sidecar with ingress listeners that applies to the workload defines
// them, replacing the service ports, as in istiod; otherwise each target
// port of the services at the workload's addresses is one, the first
// service by hostname naming it. UDP ports are left out: Envoy sidecars
// do not proxy UDP. Ingress listeners that capture nothing (captureMode
// NONE, which needs listeners bound to the port) or whose defaultEndpoint
// does not parse are left out too; translate/analyze reports them.
func inboundPorts(snap *model.Snapshot, v model.InboundView) []inboundPort {
	instances := snap.InstancesAt(v.IPs)
	byPort := map[uint32]model.ServiceInstance{}
	for _, inst := range instances {
		if _, ok := byPort[inst.Endpoint.Port]; !ok && inst.Port.Protocol != model.UDP {
			byPort[inst.Endpoint.Port] = inst
		}
	}
	var out []inboundPort
	seen := map[uint32]bool{}
	sc := snap.SidecarFor(v.Namespace, v.Labels)
	if sc != nil && len(model.AsSidecar(sc).GetIngress()) > 0 {
		for _, in := range model.AsSidecar(sc).GetIngress() {
			p := inboundPort{
				port:        in.GetPort().GetNumber(),
				protocol:    model.ParseProtocol(in.GetPort().GetProtocol()),
				hostname:    sc.Name + "." + sc.Namespace,
				servicePort: in.GetPort().GetNumber(),
			}
			endpoint, ok := ingressAddress(in.GetDefaultEndpoint(), v.IPs)
			if !ok || seen[p.port] || p.protocol == model.UDP || in.GetCaptureMode() == networkingv1alpha3.CaptureMode_NONE {
				continue
			}
			seen[p.port] = true
			p.endpoint = endpoint
			if inst, ok := byPort[p.port]; ok {
				p.hostname, p.servicePort = inst.Service.Hostname, inst.Port.Number
			}
			out = append(out, p)
		}
	} else {
		for _, inst := range instances {
			port := inst.Endpoint.Port
			if inst.Port.Protocol == model.UDP || seen[port] {
				continue
			}
			seen[port] = true
			out = append(out, inboundPort{port: port, protocol: inst.Port.Protocol, hostname: inst.Service.Hostname, servicePort: inst.Port.Number})
		}
	}
	return out
}

// ingressAddress resolves a Sidecar ingress listener's defaultEndpoint
// for a workload at ips, as istiod does: loopback as written, a wildcard
// as the workload's first address of that family (loopback when it has
// none), a Unix socket as a pipe. An empty endpoint is nil: traffic
// passes through to the original destination. ok is false when the
// endpoint does not parse.
func ingressAddress(s string, ips []string) (addr *corev3.Address, ok bool) {
	e, err := model.ParseIngressEndpoint(s)
	switch {
	case err != nil:
		return nil, false
	case e.UnixPath != "":
		return &corev3.Address{Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: e.UnixPath}}}, true
	case e.Host == "":
		return nil, true
	}
	ip := e.Host
	switch e.Host {
	case "0.0.0.0":
		ip = firstAddress(ips, netip.Addr.Is4, "127.0.0.1")
	case "::":
		ip = firstAddress(ips, netip.Addr.Is6, "::1")
	}
	return eds.SocketAddress(ip, e.Port), true
}

// firstAddress is the first of ips of a family, else fallback.
func firstAddress(ips []string, family func(netip.Addr) bool, fallback string) string {
	for _, s := range ips {
		if a, err := netip.ParseAddr(s); err == nil && family(a) {
			return a.String()
		}
	}
	return fallback
}
