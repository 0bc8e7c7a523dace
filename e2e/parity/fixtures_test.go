package parity

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/pilotlight/pilotlight/e2e/framework/cluster"
)

// The Node every Pod of the mesh is bound to, with the locality both
// control planes give its endpoints.
const (
	nodeName = "node-a"
	region   = "region-1"
	zone     = "zone-a"
)

// meshDir holds the Kubernetes and Istio objects of the parity mesh.
const meshDir = "testdata/mesh"

// pod is a Pod of the mesh. Its address is in netns.FakeRange: nothing
// connects to it, the control planes only publish it.
type pod struct {
	namespace, name, ip, serviceAccount string
	labels                              map[string]string
	ports                               []int32
}

// injected labels a Pod as Istio's sidecar injector does: canonical
// service and revision, and the TLS mode istiod and pilotlight announce
// on its endpoints for automatic mutual TLS.
func injected(app, version string, extra ...string) map[string]string {
	l := map[string]string{
		"app":                                 app,
		"version":                             version,
		"security.istio.io/tlsMode":           "istio",
		"service.istio.io/canonical-name":     app,
		"service.istio.io/canonical-revision": version,
	}
	for i := 0; i+1 < len(extra); i += 2 {
		l[extra[i]] = extra[i+1]
	}
	return l
}

// The two proxies whose configuration is compared.
var (
	sidecarPod = pod{namespace: "web", name: "frontend-1", ip: "10.244.134.1", serviceAccount: "frontend",
		labels: injected("frontend", "v1"), ports: []int32{8080}}
	gatewayPod = pod{namespace: "istio-system", name: "istio-ingressgateway-1", ip: "10.244.136.1", serviceAccount: "istio-ingressgateway",
		labels: injected("istio-ingressgateway", "v1", "istio", "ingressgateway"), ports: []int32{8080, 8443}}
)

// pods are every Pod of the mesh.
var pods = []pod{
	{namespace: "shop", name: "reviews-v1", ip: "10.244.130.1", serviceAccount: "reviews", labels: injected("reviews", "v1"), ports: []int32{9080}},
	{namespace: "shop", name: "reviews-v2", ip: "10.244.130.2", serviceAccount: "reviews", labels: injected("reviews", "v2"), ports: []int32{9080}},
	{namespace: "shop", name: "reviews-v3", ip: "10.244.130.3", serviceAccount: "reviews", labels: injected("reviews", "v3"), ports: []int32{9080}},
	{namespace: "shop", name: "ratings-v1", ip: "10.244.131.1", serviceAccount: "ratings", labels: injected("ratings", "v1"), ports: []int32{9090}},
	{namespace: "shop", name: "ratings-v2", ip: "10.244.131.2", serviceAccount: "ratings", labels: injected("ratings", "v2"), ports: []int32{9090}},
	{namespace: "shop", name: "details-v1", ip: "10.244.133.1", serviceAccount: "details", labels: injected("details", "v1"), ports: []int32{9080}},
	{namespace: "shop", name: "db-v1", ip: "10.244.132.1", serviceAccount: "db", labels: injected("db", "v1"), ports: []int32{5432}},
	{namespace: "shop", name: "db-v2", ip: "10.244.132.2", serviceAccount: "db", labels: injected("db", "v2"), ports: []int32{5432}},
	{namespace: "other", name: "legacy-1", ip: "10.244.135.1", serviceAccount: "legacy", labels: injected("legacy", "v1"), ports: []int32{8000}},
	sidecarPod,
	gatewayPod,
}

// createMesh creates the parity mesh: the objects of testdata/mesh (in
// file order), the gateway's certificate, the Node and the Pods, and
// waits until every Service's EndpointSlices list its Pods, so that both
// control planes start on the same, settled content.
func createMesh(t *testing.T, c *cluster.Cluster) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(meshDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no mesh in %s: %v", meshDir, err)
	}
	slices.Sort(files)
	for _, f := range files {
		c.ApplyFile(t, "", f)
	}
	c.CreateTLSSecret(t, "istio-system", "shop-cert", "shop.example.com")
	c.CreateNode(t, nodeName, region, zone)
	for _, p := range pods {
		var ports []corev1.ContainerPort
		for _, n := range p.ports {
			ports = append(ports, corev1.ContainerPort{ContainerPort: n, Protocol: corev1.ProtocolTCP})
		}
		c.CreatePod(t, cluster.Pod{
			Namespace: p.namespace, Name: p.name, Node: nodeName, Labels: p.labels,
			IPs: []string{p.ip}, Ports: ports, ServiceAccount: p.serviceAccount,
		})
	}
	waitForServiceEndpoints(t, c)
}

// waitForServiceEndpoints waits, for every Service with a selector in the
// mesh's namespaces, until its slices hold the addresses of the Pods it
// selects.
func waitForServiceEndpoints(t *testing.T, c *cluster.Cluster) {
	t.Helper()
	for _, ns := range []string{"shop", "web", "other", "istio-system"} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		list, err := c.Kube.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		for _, svc := range list.Items {
			if len(svc.Spec.Selector) == 0 {
				continue
			}
			sel := labels.SelectorFromSet(svc.Spec.Selector)
			var want []string
			for _, p := range pods {
				if p.namespace == ns && sel.Matches(labels.Set(p.labels)) {
					want = append(want, p.ip)
				}
			}
			c.WaitForEndpoints(t, ns, svc.Name, want...)
		}
	}
}

// meshObjects counts the objects of testdata/mesh by kind, for the log.
func meshObjects(t *testing.T) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(meshDir, "*.yaml"))
	counts := map[string]int{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if kind, ok := strings.CutPrefix(line, "kind: "); ok {
				counts[strings.TrimSpace(kind)]++
			}
		}
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		out = append(out, k+"="+strconv.Itoa(counts[k]))
	}
	return strings.Join(out, " ")
}
