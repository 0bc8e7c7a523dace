package convert

import (
	"fmt"
	"testing"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BenchmarkBuildServiceEntries measures a full conversion of DESIGN.md's
// load (1,000 Services × 10 endpoints) plus 1,000 ServiceEntries that
// each select 10 WorkloadEntries: the label indexes must keep selection
// linear in the number of objects.
func BenchmarkBuildServiceEntries(b *testing.B) {
	s := benchStore(b, 1000, 10)
	for i := range 1000 {
		app := fmt.Sprintf("vm-app-%d", i)
		must(b, s.Set(&networkingv1.ServiceEntry{
			ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: "bench"},
			Spec: networkingv1alpha3.ServiceEntry{
				Hosts:            []string{app + ".vms.example"},
				Ports:            []*networkingv1alpha3.ServicePort{{Name: "http", Number: 80, Protocol: "HTTP", TargetPort: 8080}},
				Location:         networkingv1alpha3.ServiceEntry_MESH_INTERNAL,
				Resolution:       networkingv1alpha3.ServiceEntry_STATIC,
				WorkloadSelector: &networkingv1alpha3.WorkloadSelector{Labels: map[string]string{"app": app}},
			},
		}))
		for j := range 10 {
			must(b, s.Set(&networkingv1.WorkloadEntry{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", app, j), Namespace: "bench"},
				Spec: networkingv1alpha3.WorkloadEntry{
					Address: fmt.Sprintf("10.%d.%d.%d", 200+i/250, i%250, j+1),
					Labels:  map[string]string{"app": app, "version": "v1"},
				},
			}))
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		snap := s.Build(nil, "")
		if services, endpoints, _ := snap.Counts(); services != 2000 || endpoints != 20000 {
			b.Fatalf("built %d services, %d endpoints", services, endpoints)
		}
	}
}
