package convert

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// benchStore fills a Store with the DESIGN.md load: services × endpoints
// Pods behind EndpointSlices, on ten Nodes.
func benchStore(b *testing.B, services, endpoints int) *Store {
	s := NewStore()
	for n := range 10 {
		must(b, s.Set(&corev1.Node{ObjectMeta: metav1.ObjectMeta{
			Name:   fmt.Sprintf("node-%d", n),
			Labels: map[string]string{corev1.LabelTopologyRegion: "r", corev1.LabelTopologyZone: fmt.Sprintf("z%d", n%2)},
		}}))
	}
	for i := range services {
		name := fmt.Sprintf("svc-%d", i)
		must(b, s.Set(&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "bench"},
			Spec: corev1.ServiceSpec{
				ClusterIP: fmt.Sprintf("10.96.%d.%d", i/250, i%250+1),
				Selector:  map[string]string{"app": name},
				Ports:     []corev1.ServicePort{{Name: "http", Port: 8080}},
			},
		}))
		slice := &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: name + "-x", Namespace: "bench", Labels: map[string]string{discoveryv1.LabelServiceName: name}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(8080))}},
		}
		for j := range endpoints {
			pod := fmt.Sprintf("%s-%d", name, j)
			ip := fmt.Sprintf("10.%d.%d.%d", 100+i/250, i%250, j+1)
			must(b, s.Set(&corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: pod, Namespace: "bench", Labels: map[string]string{"app": name, "version": "v1"}},
				Spec:       corev1.PodSpec{ServiceAccountName: name, NodeName: fmt.Sprintf("node-%d", j%10)},
			}))
			slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
				Addresses: []string{ip},
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: pod},
			})
		}
		must(b, s.Set(slice))
	}
	return s
}

func must(b *testing.B, err error) {
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkBuild measures one full conversion of 1,000 services with 10
// endpoints each, the size DESIGN.md's targets are set for.
func BenchmarkBuild(b *testing.B) {
	s := benchStore(b, 1000, 10)
	b.ReportAllocs()
	for b.Loop() {
		s.Build(nil, "")
	}
}
