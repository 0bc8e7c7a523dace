// Package modeltest builds synthetic meshes for tests and benchmarks. It is
// imported only from _test.go files.
package modeltest

import (
	"fmt"

	"github.com/pilotlight/pilotlight/translate/model"
)

// Mesh describes a synthetic mesh: Services spread over Namespaces, each
// with one HTTP port (8080) and EndpointsPerService pods in two zones.
type Mesh struct {
	Namespaces          int
	Services            int
	EndpointsPerService int
}

// Namespace returns the name of the i-th namespace.
func Namespace(i int) string { return fmt.Sprintf("ns-%d", i) }

// Hostname returns the hostname of the i-th service.
func (m Mesh) Hostname(i int) string {
	return fmt.Sprintf("svc-%d.%s.svc.cluster.local", i, Namespace(i%max(m.Namespaces, 1)))
}

// EndpointAddress returns the address of endpoint j of service i.
func EndpointAddress(i, j int) string {
	n := i*1000 + j
	return fmt.Sprintf("10.%d.%d.%d", 128+n>>16&0x3f, n>>8&0xff, n&0xff)
}

// Builder returns a builder filled with the mesh, so a caller can change
// it (an endpoint, a service) before Build.
func (m Mesh) Builder() *model.Builder {
	b := model.NewBuilder()
	nss := max(m.Namespaces, 1)
	for i := range nss {
		b.AddNamespace(&model.Namespace{Name: Namespace(i)})
	}
	for i := range m.Services {
		ns := Namespace(i % nss)
		host := m.Hostname(i)
		b.AddService(&model.Service{
			Hostname:  host,
			Name:      fmt.Sprintf("svc-%d", i),
			Namespace: ns,
			Addresses: []string{fmt.Sprintf("10.96.%d.%d", i>>8&0xff, i&0xff)},
			Ports:     []model.Port{{Name: "http", Number: 8080, Protocol: model.HTTP}},
			Selector:  map[string]string{"app": fmt.Sprintf("svc-%d", i)},
		})
		for j := range m.EndpointsPerService {
			b.AddEndpoints(&model.Endpoint{
				ServiceHostname: host,
				ServicePortName: "http",
				Address:         EndpointAddress(i, j),
				Port:            8080,
				Labels:          map[string]string{"app": fmt.Sprintf("svc-%d", i), "version": fmt.Sprintf("v%d", j%2+1)},
				ServiceAccount:  fmt.Sprintf("svc-%d", i),
				Namespace:       ns,
				WorkloadName:    fmt.Sprintf("svc-%d-%d", i, j),
				Locality:        model.Locality{Region: "region-1", Zone: fmt.Sprintf("zone-%d", j%2)},
			})
		}
	}
	return b
}

// Snapshot builds the mesh.
func (m Mesh) Snapshot() *model.Snapshot { return m.Builder().Build() }
