package kube

import (
	"fmt"
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
	kubefake "k8s.io/client-go/kubernetes/fake"

	"github.com/pilotlight/pilotlight/translate/model"
)

// benchSource fills a Source's Store, as its informers would, with the
// DESIGN.md load: services × endpoints Pods behind EndpointSlices in ten
// namespaces, on ten Nodes. It returns the slices by service.
func benchSource(b *testing.B, services, endpoints int, opts Options) (*Source, []*discoveryv1.EndpointSlice) {
	opts.Kube = kubefake.NewClientset()
	s := New(opts)
	for n := range 10 {
		s.upsert(node(fmt.Sprintf("node-%d", n), "r", fmt.Sprintf("z%d", n%2)))
		s.upsert(namespace(fmt.Sprintf("ns-%d", n), map[string]string{"mesh": "on"}))
	}
	var slices []*discoveryv1.EndpointSlice
	for i := range services {
		ns, name := fmt.Sprintf("ns-%d", i%10), fmt.Sprintf("svc-%d", i)
		s.upsert(service(ns, name, fmt.Sprintf("10.96.%d.%d", i/250, i%250+1)))
		var addrs []string
		for j := range endpoints {
			ip := fmt.Sprintf("10.%d.%d.%d", 100+i/250, i%250, j+1)
			addrs = append(addrs, ip)
			p := pod(ns, name, j, ip, name)
			p.Name = fmt.Sprintf("%s-%d", name, j)
			p.Spec.NodeName = fmt.Sprintf("node-%d", j%10)
			s.upsert(slimPod(p))
		}
		sl := slice(ns, name, name+"-x", discoveryv1.AddressTypeIPv4, addrs...)
		for j := range sl.Endpoints {
			sl.Endpoints[j].TargetRef.Name = fmt.Sprintf("%s-%d", name, j)
		}
		s.upsert(sl)
		slices = append(slices, sl)
	}
	return s, slices
}

// BenchmarkBuildAfterSliceChange measures what one EndpointSlice change
// costs the source: store the new slice, then build the whole Snapshot
// of 1,000 services with 10 endpoints each, with and without discovery
// selectors to evaluate.
func BenchmarkBuildAfterSliceChange(b *testing.B) {
	selectors, err := model.ParseMeshConfig([]byte("discoverySelectors: [{matchLabels: {mesh: \"on\"}}]"))
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		opts Options
	}{
		{"all-namespaces", Options{}},
		{"discovery-selectors", Options{Mesh: selectors}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s, slices := benchSource(b, 1000, 10, bc.opts)
			if sel, err := CompileSelectors(s.mesh.GetDiscoverySelectors()); err != nil {
				b.Fatal(err)
			} else {
				s.filter.selectors = sel
			}
			if _, eps, _ := s.store.BuildSelected(s.mesh, "", nil).Counts(); eps != 10000 {
				b.Fatalf("%d endpoints, want 10000", eps)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				sl := slices[i%len(slices)].DeepCopy()
				ready := i%2 == 0
				sl.Endpoints[0].Conditions = discoveryv1.EndpointConditions{Ready: &ready}
				sl.ResourceVersion = fmt.Sprint(i)
				s.upsert(sl)
				snap, _ := s.build()
				if snap == nil {
					b.Fatal("no snapshot")
				}
				i++
			}
		})
	}
}
