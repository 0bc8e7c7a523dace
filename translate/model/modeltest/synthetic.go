// Package modeltest builds synthetic meshes of any size for tests and
// benchmarks. It is test support: only _test.go files import it.
package modeltest

import (
	"fmt"
	"strings"

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
