// Package xdstest builds what tests and benchmarks of the xDS server need:
// synthetic meshes of any size and xDS nodes shaped like istio-agent's.
// It is test support: nothing in the server imports it.
package xdstest

import (
	"fmt"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/pilotlight/pilotlight/translate/model"
)

// Mesh describes a synthetic mesh: Services services spread over
// Namespaces namespaces, each with one HTTP port 8080 and Endpoints ready
// endpoints in two zones.
type Mesh struct {
	Services   int
	Endpoints  int
	Namespaces int
}

// Builder returns a model builder holding the mesh, so a test can add or
// change things before Build.
func (m Mesh) Builder() *model.Builder {
	if m.Namespaces <= 0 {
		m.Namespaces = 1
	}
	b := model.NewBuilder()
	for n := range m.Namespaces {
		b.AddNamespace(&model.Namespace{Name: NamespaceName(n)})
	}
	for i := range m.Services {
		ns := NamespaceName(i % m.Namespaces)
		name := fmt.Sprintf("svc-%d", i)
		host := Hostname(name, ns)
		b.AddService(&model.Service{
			Hostname:  host,
			Name:      name,
			Namespace: ns,
			Addresses: []string{fmt.Sprintf("10.96.%d.%d", i/250, i%250+1)},
			Ports:     []model.Port{{Name: "http", Number: 8080, Protocol: model.HTTP}},
			Selector:  map[string]string{"app": name},
		})
		for e := range m.Endpoints {
			b.AddEndpoints(Endpoint(host, ns, PodIP(i*m.Endpoints+e), e%2))
		}
	}
	return b
}

// Build returns the mesh as a snapshot.
func (m Mesh) Build() *model.Snapshot { return m.Builder().Build() }

// NamespaceName is the name of the n-th namespace of a synthetic mesh.
func NamespaceName(n int) string { return fmt.Sprintf("ns-%d", n) }

// Hostname is a service's cluster-local hostname.
func Hostname(name, ns string) string { return name + "." + ns + ".svc.cluster.local" }

// PodIP is the address of the k-th pod of a synthetic mesh, in 10.128.0.0/9.
func PodIP(k int) string {
	return fmt.Sprintf("10.%d.%d.%d", 128+k/65536, k/256%256, k%256)
}

// Endpoint is a ready endpoint of a service's port named http, at address
// port 8080, in zone-<zone>.
func Endpoint(host, ns, address string, zone int) *model.Endpoint {
	return &model.Endpoint{
		ServiceHostname: host,
		ServicePortName: "http",
		Address:         address,
		Port:            8080,
		Namespace:       ns,
		Labels:          map[string]string{"app": strings.SplitN(host, ".", 2)[0]},
		ServiceAccount:  "default",
		Locality:        model.Locality{Region: "region", Zone: fmt.Sprintf("zone-%d", zone)},
	}
}

// Node is an xDS node as istio-agent sends it for a sidecar (Type
// "sidecar"), a gateway ("router") or, with Generator "grpc", a
// proxyless gRPC workload.
type Node struct {
	Type           string
	IP             string
	Pod            string
	Namespace      string
	Labels         map[string]string
	ServiceAccount string
	Generator      string
	// MetaNamespace overrides the NAMESPACE metadata (to build a node
	// that lies about its namespace).
	MetaNamespace string
}

// Proto renders the node.
func (n Node) Proto() *corev3.Node {
	if n.Type == "" {
		n.Type = "sidecar"
	}
	if n.MetaNamespace == "" {
		n.MetaNamespace = n.Namespace
	}
	md := map[string]any{
		model.MetaNamespace:   n.MetaNamespace,
		model.MetaInstanceIPs: n.IP,
		model.MetaClusterID:   "Kubernetes",
	}
	if n.ServiceAccount != "" {
		md[model.MetaServiceAccount] = n.ServiceAccount
	}
	if n.Generator != "" {
		md[model.MetaGenerator] = n.Generator
	}
	if len(n.Labels) > 0 {
		labels := map[string]any{}
		for k, v := range n.Labels {
			labels[k] = v
		}
		md[model.MetaLabels] = labels
	}
	meta, err := structpb.NewStruct(md)
	if err != nil {
		panic(err) // only strings and maps of strings: cannot fail
	}
	return &corev3.Node{
		Id:       fmt.Sprintf("%s~%s~%s.%s~%s.svc.cluster.local", n.Type, n.IP, n.Pod, n.Namespace, n.Namespace),
		Cluster:  n.Pod,
		Metadata: meta,
	}
}
