package model

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

// NodeType is the first field of an Istio node id.
type NodeType string

const (
	// SidecarProxy is an Envoy sidecar or a proxyless gRPC workload.
	SidecarProxy NodeType = "sidecar"
	// Router is a gateway (ingress or egress) Envoy.
	Router NodeType = "router"
)

// Generator names the flavour of config a proxy asked for in its
// GENERATOR metadata. The empty string means Envoy.
const GeneratorGRPC = "grpc"

// Node metadata keys set by istio-agent (and by pilotlight's bootstrap).
const (
	MetaNamespace      = "NAMESPACE"
	MetaLabels         = "LABELS"
	MetaServiceAccount = "SERVICE_ACCOUNT"
	MetaInstanceIPs    = "INSTANCE_IPS"
	MetaClusterID      = "CLUSTER_ID"
	MetaGenerator      = "GENERATOR"
	MetaIstioVersion   = "ISTIO_VERSION"
	MetaWorkloadName   = "WORKLOAD_NAME"
)

// MetaWorkloadSDS is the node metadata key with which a plain Envoy (no
// istio-agent) asks pilotlight for its workload certificate: with the
// value "true", a stream that proved an identity on the TLS port is
// served secrets "default" (a key pair pilotlight mints for that
// identity) and "ROOTCA" (the mesh's trust bundle) over ADS, and its
// config names its secrets with an ADS config source, never istio-agent's
// sds-grpc cluster. pilotlight's bootstrap sets it (`pilotlight
// bootstrap --envoy --sds`).
const MetaWorkloadSDS = "PILOTLIGHT_WORKLOAD_SDS"

// Proxy is what pilotlight knows about a connected xDS client, parsed from
// its node. Nothing here is trusted for secrets: stream authentication
// decides what identity a proxy proved.
type Proxy struct {
	// ID is the raw node id, TYPE~IP~POD.NS~NS.svc.cluster.local.
	ID   string
	Type NodeType
	// IPAddresses: the id's IP first, then any other INSTANCE_IPS.
	IPAddresses []string
	// PodName is the workload name from the id.
	PodName   string
	Namespace string
	// DNSDomain is the last id field, NS.svc.cluster.local.
	DNSDomain      string
	Labels         map[string]string
	ServiceAccount string
	ClusterID      string
	// Generator is "grpc" for proxyless gRPC clients, "" for Envoy.
	Generator    string
	IstioVersion string
	WorkloadName string
	Locality     Locality
	// WorkloadSDS: the node asks for its workload secrets over ADS
	// (MetaWorkloadSDS); it has no istio-agent.
	WorkloadSDS bool
}

// Proxyless reports whether the proxy is a gRPC library, not Envoy.
func (p *Proxy) Proxyless() bool { return p.Generator == GeneratorGRPC }

// ParseProxy reads an xDS node the way istiod does and rejects ids that
// contradict themselves or their metadata: a proxy that lies about its
// namespace must not be given another namespace's view.
func ParseProxy(node *corev3.Node) (*Proxy, error) {
	if node == nil || node.GetId() == "" {
		return nil, fmt.Errorf("node id is required")
	}
	parts := strings.Split(node.GetId(), "~")
	if len(parts) != 4 {
		return nil, fmt.Errorf("node id %q: want TYPE~IP~POD.NAMESPACE~NAMESPACE.svc.DOMAIN, got %d fields", node.GetId(), len(parts))
	}
	p := &Proxy{ID: node.GetId(), Type: NodeType(parts[0]), DNSDomain: parts[3]}
	if p.Type != SidecarProxy && p.Type != Router {
		return nil, fmt.Errorf("node id %q: unknown proxy type %q (want sidecar or router)", p.ID, parts[0])
	}
	ip, err := netip.ParseAddr(parts[1])
	if err != nil {
		return nil, fmt.Errorf("node id %q: bad IP address %q", p.ID, parts[1])
	}
	p.IPAddresses = []string{ip.String()}

	pod, idNamespace, ok := strings.Cut(parts[2], ".")
	if !ok || pod == "" || idNamespace == "" {
		return nil, fmt.Errorf("node id %q: workload %q is not POD.NAMESPACE", p.ID, parts[2])
	}
	p.PodName = pod
	if domainNS, _, _ := strings.Cut(p.DNSDomain, "."); domainNS != idNamespace {
		return nil, fmt.Errorf("node id %q: namespace %q and DNS domain %q disagree", p.ID, idNamespace, p.DNSDomain)
	}
	p.Namespace = idNamespace

	md := node.GetMetadata().GetFields()
	if ns := stringField(md, MetaNamespace); ns != "" && ns != idNamespace {
		return nil, fmt.Errorf("node id %q: metadata NAMESPACE %q contradicts the id's namespace %q", p.ID, ns, idNamespace)
	}
	p.ServiceAccount = stringField(md, MetaServiceAccount)
	p.ClusterID = stringField(md, MetaClusterID)
	p.Generator = stringField(md, MetaGenerator)
	p.IstioVersion = stringField(md, MetaIstioVersion)
	p.WorkloadName = stringField(md, MetaWorkloadName)
	p.WorkloadSDS = stringField(md, MetaWorkloadSDS) == "true"
	if l := md[MetaLabels].GetStructValue(); l != nil {
		p.Labels = make(map[string]string, len(l.GetFields()))
		for k, v := range l.GetFields() {
			p.Labels[k] = v.GetStringValue()
		}
	}
	if ips := stringField(md, MetaInstanceIPs); ips != "" {
		for _, s := range strings.Split(ips, ",") {
			a, err := netip.ParseAddr(strings.TrimSpace(s))
			if err != nil {
				return nil, fmt.Errorf("node id %q: metadata INSTANCE_IPS has a bad address %q", p.ID, s)
			}
			if a.String() != p.IPAddresses[0] {
				p.IPAddresses = append(p.IPAddresses, a.String())
			}
		}
		sort.Strings(p.IPAddresses[1:])
	}
	if loc := node.GetLocality(); loc != nil {
		p.Locality = Locality{Region: loc.GetRegion(), Zone: loc.GetZone(), SubZone: loc.GetSubZone()}
	}
	return p, nil
}

func stringField(md map[string]*structpb.Value, key string) string {
	return md[key].GetStringValue()
}
