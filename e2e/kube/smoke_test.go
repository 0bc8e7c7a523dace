package kube

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/pilotlight/pilotlight/e2e/framework/build"
	"github.com/pilotlight/pilotlight/e2e/framework/workload"
)

// TestSmoke checks the test bed itself: the control plane starts with
// Istio's CRDs served, and a Pod living in a network namespace, Ready on a
// Ready Node, becomes an endpoint of its Service through the real
// EndpointSlice controller, with the Node's zone, while its backend answers
// from the host.
func TestSmoke(t *testing.T) {
	e := newEnv(t)
	c := e.cluster

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Istio.NetworkingV1().VirtualServices(metav1.NamespaceAll).List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatalf("Istio CRDs not served: %v", err)
	}

	c.CreateNamespace(t, "smoke", nil)
	c.CreateNode(t, "node-a", "region-1", "zone-a")
	w := workload.Run(t, c, e.network, e.bins.Path(build.Backend), workload.Spec{
		Namespace: "smoke", Name: "echo-v1", Node: "node-a",
		Labels: map[string]string{"app": "echo", "version": "v1"},
	})
	c.CreateService(t, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "smoke", Name: "echo"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "echo"},
			Ports: []corev1.ServicePort{{
				Name: "grpc", Port: 7070, TargetPort: intstr.FromString(workload.PortName), Protocol: corev1.ProtocolTCP,
			}},
		},
	})
	took := c.WaitForEndpoints(t, "smoke", "echo", w.Addr)
	t.Logf("EndpointSlice with %s written %v after the Service", w.Addr, took.Round(time.Millisecond))

	list, err := c.Kube.DiscoveryV1().EndpointSlices("smoke").List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=echo"})
	if err != nil {
		t.Fatal(err)
	}
	s := list.Items[0]
	if len(s.Ports) != 1 || s.Ports[0].Port == nil || *s.Ports[0].Port != workload.Port {
		t.Errorf("slice ports = %v, want the named target port resolved to %d", s.Ports, workload.Port)
	}
	ep := s.Endpoints[0]
	if ep.Zone == nil || *ep.Zone != "zone-a" || ep.NodeName == nil || *ep.NodeName != "node-a" {
		t.Errorf("endpoint zone %v node %v, want zone-a on node-a", ep.Zone, ep.NodeName)
	}
	if ep.TargetRef == nil || ep.TargetRef.Name != "echo-v1" {
		t.Errorf("endpoint targetRef = %v, want Pod echo-v1", ep.TargetRef)
	}
	if got, err := workload.Call(w.Endpoint); err != nil || got != "echo-v1" {
		t.Errorf("backend at %s answered %q, %v", w.Endpoint, got, err)
	}
}
