package model

import (
	"fmt"
	"strings"
)

// Resolution says how a proxy finds the addresses behind a service.
type Resolution int

const (
	// ClientSideLB: the control plane sends endpoints (EDS) and the proxy
	// balances across them. ClusterIP services and ServiceEntries with
	// resolution STATIC.
	ClientSideLB Resolution = iota
	// Passthrough: the proxy forwards to the address the caller dialled.
	// Headless services and ServiceEntries with resolution NONE.
	Passthrough
	// DNSLB: the proxy resolves DNS names itself and balances across every
	// address they return. ExternalName services (the name is
	// ExternalName) and ServiceEntries with resolution DNS (the names are
	// the addresses of the service's endpoints, which may be host names or
	// IPs).
	DNSLB
	// DNSRoundRobin: the proxy resolves one DNS name itself and connects
	// to the first address it returns, keeping connections across record
	// changes. ServiceEntries with resolution DNS_ROUND_ROBIN; the name is
	// the address of the service's first endpoint for the port.
	DNSRoundRobin
)

func (r Resolution) String() string {
	switch r {
	case ClientSideLB:
		return "ClientSideLB"
	case Passthrough:
		return "Passthrough"
	case DNSLB:
		return "DNS"
	case DNSRoundRobin:
		return "DNSRoundRobin"
	}
	return fmt.Sprintf("Resolution(%d)", int(r))
}

// Origin says which kind of object declared a service. Generators need it
// where the two kinds mean different things under one Resolution: a
// headless Service has endpoints a proxyless client can balance over, a
// ServiceEntry with resolution NONE names only addresses to pass through.
type Origin int

const (
	// FromKubernetes: a Kubernetes Service.
	FromKubernetes Origin = iota
	// FromServiceEntry: one host of an Istio ServiceEntry.
	FromServiceEntry
)

func (o Origin) String() string {
	switch o {
	case FromKubernetes:
		return "Kubernetes"
	case FromServiceEntry:
		return "ServiceEntry"
	}
	return fmt.Sprintf("Origin(%d)", int(o))
}

// Port is one port of a service.
type Port struct {
	// Name is the service port name; endpoints refer to it.
	Name string
	// Number is the port clients dial.
	Number uint32
	// Protocol is the detected application protocol.
	Protocol Protocol
	// TargetPort is, for a Passthrough ServiceEntry, the port the proxy
	// connects to instead of the one the caller dialled; 0 keeps the
	// dialled port. Every other resolution carries target ports on the
	// endpoints instead.
	TargetPort uint32
	// ContainerPort is, for a Kubernetes Service, the number its
	// targetPort names (the service port itself when unset); 0 when the
	// targetPort is a container port name, which only the pods resolve.
	// Gateways listen on it (see GatewayPorts).
	ContainerPort uint32
}

// Service is a named, addressable set of workloads: a Kubernetes Service,
// or one host of a ServiceEntry.
type Service struct {
	// Hostname is the fully qualified name, e.g. reviews.bookstore.svc.cluster.local.
	Hostname string
	// Name and Namespace of the object that declared the service.
	Name      string
	Namespace string
	// Addresses are the virtual IPs (ClusterIPs, or a ServiceEntry's IP
	// addresses); empty for headless services.
	Addresses []string
	// CIDRs are the address ranges of a ServiceEntry (addresses written as
	// prefixes shorter than a host), such as 10.1.0.0/16: traffic to any
	// address in them on a service port belongs to the service. Only TCP
	// listeners can match them; HTTP is routed by Host header.
	CIDRs []string
	// Ports in declaration order.
	Ports []Port
	// Resolution selects EDS, passthrough or DNS.
	Resolution Resolution
	// ExternalName is the DNS target of an ExternalName service. DNS
	// ServiceEntries leave it empty: their names are their endpoints'
	// addresses.
	ExternalName string
	// Labels of the service object.
	Labels map[string]string
	// Selector picks the pods (and WorkloadEntries) behind the service: a
	// Service's selector or a ServiceEntry's workloadSelector; nil when the
	// service has hand-written endpoints.
	Selector map[string]string
	// MeshExternal marks services outside the mesh (no mTLS, no inbound).
	MeshExternal bool
	// ExportTo lists the namespaces that may see the service ("*" all,
	// "." its own); empty means all, as Istio's default.
	ExportTo []string
	// Origin is the kind of object that declared the service.
	Origin Origin
}

// Key identifies a service in a Snapshot: its hostname.
func (s *Service) Key() string { return s.Hostname }

// PortByNumber returns the port with that number.
func (s *Service) PortByNumber(n uint32) (Port, bool) {
	for _, p := range s.Ports {
		if p.Number == n {
			return p, true
		}
	}
	return Port{}, false
}

// PortByName returns the port with that name.
func (s *Service) PortByName(name string) (Port, bool) {
	for _, p := range s.Ports {
		if p.Name == name {
			return p, true
		}
	}
	return Port{}, false
}

// Locality is where a workload runs, from its Node's topology labels.
type Locality struct {
	Region, Zone, SubZone string
}

// String renders the locality as Istio does: region/zone/subzone.
func (l Locality) String() string {
	if l.SubZone != "" {
		return l.Region + "/" + l.Zone + "/" + l.SubZone
	}
	if l.Zone != "" {
		return l.Region + "/" + l.Zone
	}
	return l.Region
}

// ParseLocality reads Istio's region/zone/subzone form.
func ParseLocality(s string) Locality {
	parts := strings.SplitN(s, "/", 3)
	var l Locality
	l.Region = parts[0]
	if len(parts) > 1 {
		l.Zone = parts[1]
	}
	if len(parts) > 2 {
		l.SubZone = parts[2]
	}
	return l
}

// HealthStatus of an endpoint, as Envoy understands it.
type HealthStatus int

const (
	// Healthy endpoints receive traffic.
	Healthy HealthStatus = iota
	// Unhealthy endpoints are known but must not receive new traffic.
	Unhealthy
	// Draining endpoints are terminating; they finish what they have.
	Draining
)

func (h HealthStatus) String() string {
	switch h {
	case Healthy:
		return "HEALTHY"
	case Unhealthy:
		return "UNHEALTHY"
	case Draining:
		return "DRAINING"
	}
	return fmt.Sprintf("HealthStatus(%d)", int(h))
}

// Endpoint is one address:port of one workload behind one service port.
type Endpoint struct {
	// ServiceHostname and ServicePortName say which service port this
	// endpoint serves.
	ServiceHostname string
	ServicePortName string
	// Address is the workload IP, or for a DNS ServiceEntry a host name
	// the proxy resolves; Port the port it listens on (the target port).
	Address string
	Port    uint32
	// Labels of the workload (the Pod's or WorkloadEntry's labels).
	Labels map[string]string
	// ServiceAccount of the workload, in Kubernetes form (name only).
	ServiceAccount string
	// Namespace of the workload.
	Namespace string
	// WorkloadName is the Pod (or WorkloadEntry) name, if known.
	WorkloadName string
	// Locality of the node running the workload.
	Locality Locality
	// Health as reported by the platform (Ready, Serving, Terminating).
	Health HealthStatus
	// Weight for load balancing; 0 means the default of 1.
	Weight uint32
}

// LBWeight returns the endpoint's load-balancing weight, at least 1.
func (e *Endpoint) LBWeight() uint32 {
	if e.Weight == 0 {
		return 1
	}
	return e.Weight
}

// ServiceInstance is a workload seen as a member of one service port: what
// a sidecar needs to build its inbound side.
type ServiceInstance struct {
	Service  *Service
	Port     Port
	Endpoint *Endpoint
}
