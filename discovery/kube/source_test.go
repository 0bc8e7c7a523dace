package kube

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/pilotlight/pilotlight/translate/model"
)

const webHost = "web.demo.svc.cluster.local"

// TestNothingPublishedBeforeSync: while one informer cannot list, nothing
// is published, not even the objects the others have; once it lists, the
// first Snapshot holds everything.
func TestNothingPublishedBeforeSync(t *testing.T) {
	e := newEnv(t, nil,
		service("demo", "web", "10.96.0.10"),
		slice("demo", "web", "web-a", discoveryv1.AddressTypeIPv4, "10.1.0.1"),
		pod("demo", "web", 0, "10.1.0.1", "web-sa"),
	)
	var held atomic.Bool
	held.Store(true)
	e.kube.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		if held.Load() {
			return true, nil, errors.New("held back by the test")
		}
		return false, nil, nil
	})
	e.start()
	e.quiet(500 * time.Millisecond)

	held.Store(false)
	p := e.next()
	eps := p.snap.Endpoints(webHost)
	if len(eps) != 1 || eps[0].ServiceAccount != "web-sa" || eps[0].Labels["version"] != "v1" {
		t.Fatalf("first Snapshot endpoints = %+v, want 10.1.0.1 with the Pod's service account and labels", eps)
	}
}

// TestEndpointsFollowEvents drives a service's endpoints through Pod and
// EndpointSlice events as the EndpointSlice controller and kubelet would.
func TestEndpointsFollowEvents(t *testing.T) {
	e := newEnv(t, nil, service("demo", "web", "10.96.0.10"), node("node-a", "eu", "eu-1a"))
	e.start()
	if got := endpointsOf(e.next().snap, webHost); len(got) != 0 {
		t.Fatalf("endpoints before any Pod = %v", got)
	}
	ctx := t.Context()
	pods := e.kube.CoreV1().Pods("demo")
	slices := e.kube.DiscoveryV1().EndpointSlices("demo")

	// A selector service whose slices do not exist yet takes its endpoints
	// from the Pods it selects.
	if _, err := pods.Create(ctx, pod("demo", "web", 0, "10.1.0.1", "web-sa"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := e.until("endpoint of the new Pod", wantEndpoints(webHost, "10.1.0.1:8080 HEALTHY"))
	if ep := p.snap.Endpoints(webHost)[0]; ep.Locality.Region != "eu" || ep.Locality.Zone != "eu-1a" || ep.ServiceAccount != "web-sa" {
		t.Errorf("endpoint = %+v, want the Node's locality and the Pod's service account", ep)
	}

	s := slice("demo", "web", "web-a", discoveryv1.AddressTypeIPv4, "10.1.0.1", "10.1.0.2")
	if _, err := slices.Create(ctx, s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.until("endpoints of the slice", wantEndpoints(webHost, "10.1.0.1:8080 HEALTHY", "10.1.0.2:8080 HEALTHY"))

	s.Endpoints[1].Conditions = discoveryv1.EndpointConditions{Ready: ptr(false), Serving: ptr(true), Terminating: ptr(true)}
	if _, err := slices.Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.until("terminating endpoint drains", wantEndpoints(webHost, "10.1.0.1:8080 HEALTHY", "10.1.0.2:8080 DRAINING"))

	s.Endpoints[1].Conditions = discoveryv1.EndpointConditions{Ready: ptr(false)}
	if _, err := slices.Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.until("not-ready endpoint", wantEndpoints(webHost, "10.1.0.1:8080 HEALTHY", "10.1.0.2:8080 UNHEALTHY"))

	if err := slices.Delete(ctx, "web-a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(ctx, podName("web", 0), metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.until("no endpoints once slice and Pod are gone", wantEndpoints(webHost))
}

// TestServiceShapes: every kind of Service and EndpointSlice the API
// server holds reaches the Snapshot; the kube path drops none of them.
func TestServiceShapes(t *testing.T) {
	headless := service("demo", "db", corev1.ClusterIPNone)
	external := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "ext"},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com"},
	}
	multi := service("demo", "multi", "10.96.0.12")
	multi.Spec.Ports = append(multi.Spec.Ports, corev1.ServicePort{Name: "grpc", Port: 90})
	multiSlice := slice("demo", "multi", "multi-a", discoveryv1.AddressTypeIPv4, "10.1.2.1")
	multiSlice.Ports = append(multiSlice.Ports, discoveryv1.EndpointPort{Name: ptr("grpc"), Port: ptr(int32(9090))})
	legacy := service("demo", "legacy", "10.96.0.13")
	legacy.Spec.Selector = nil
	dual := service("demo", "dual", "10.96.0.14")
	dual.Spec.ClusterIPs = []string{"10.96.0.14", "fd00::14"}

	e := newEnv(t, nil,
		headless, slice("demo", "db", "db-a", discoveryv1.AddressTypeIPv4, "10.1.1.1", "10.1.1.2"),
		external,
		multi, multiSlice,
		legacy, slice("demo", "legacy", "legacy-by-hand", discoveryv1.AddressTypeIPv4, "192.168.7.7"),
		dual, slice("demo", "dual", "dual-v4", discoveryv1.AddressTypeIPv4, "10.1.3.1"),
		slice("demo", "dual", "dual-v6", discoveryv1.AddressTypeIPv6, "fd00:1::1"),
	)
	e.start()
	snap := e.next().snap
	host := func(name string) string { return name + ".demo.svc.cluster.local" }

	if svc := snap.Service(host("db")); svc == nil || svc.Resolution != model.Passthrough {
		t.Errorf("headless service = %+v, want passthrough", svc)
	}
	if got := endpointsOf(snap, host("db")); len(got) != 2 {
		t.Errorf("headless endpoints = %v, want both Pods", got)
	}
	if svc := snap.Service(host("ext")); svc == nil || svc.ExternalName != "example.com" || svc.Resolution != model.DNSLB {
		t.Errorf("ExternalName service = %+v", svc)
	}
	if got := snap.EndpointsForPort(host("multi"), "grpc"); len(got) != 1 || got[0].Port != 9090 {
		t.Errorf("multi-port grpc endpoints = %v, want 10.1.2.1:9090", got)
	}
	if got := snap.EndpointsForPort(host("multi"), "http"); len(got) != 1 || got[0].Port != 8080 {
		t.Errorf("multi-port http endpoints = %v, want 10.1.2.1:8080", got)
	}
	if got := endpointsOf(snap, host("legacy")); !slices.Equal(got, []string{"192.168.7.7:8080 HEALTHY"}) {
		t.Errorf("selector-less service endpoints = %v, want its hand-written slice's", got)
	}
	if svc := snap.Service(host("dual")); svc == nil || len(svc.Addresses) != 2 {
		t.Errorf("dual-stack service = %+v, want both ClusterIPs", svc)
	}
	got := endpointsOf(snap, host("dual"))
	slices.Sort(got)
	if want := []string{"10.1.3.1:8080 HEALTHY", "fd00:1::1:8080 HEALTHY"}; !slices.Equal(got, want) {
		t.Errorf("dual-stack endpoints = %v, want %v", got, want)
	}
}

// wantEndpoints checks a service's endpoints, in order.
func wantEndpoints(host string, want ...string) func(published) error {
	return func(p published) error {
		if got := endpointsOf(p.snap, host); !slices.Equal(got, want) {
			return fmt.Errorf("endpoints of %s = %v, want %v", host, got, want)
		}
		return nil
	}
}

// TestSlimPod: the Pod transform keeps every field convert reads and
// nothing else, and is idempotent.
func TestSlimPod(t *testing.T) {
	p := pod("demo", "web", 0, "10.1.0.1", "web-sa")
	p.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubelet"}}
	p.DeletionTimestamp = &metav1.Time{Time: time.Unix(1, 0)}
	always := corev1.ContainerRestartPolicyAlways
	p.Spec.InitContainers = []corev1.Container{
		{Name: "setup", Image: "x", Ports: []corev1.ContainerPort{{Name: "setup", ContainerPort: 1}}},
		{Name: "proxy", Image: "y", RestartPolicy: &always, Ports: []corev1.ContainerPort{{Name: "admin", ContainerPort: 15000}}},
	}
	got, err := slim(p)
	if err != nil {
		t.Fatal(err)
	}
	want := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "web-0", Labels: p.Labels, DeletionTimestamp: p.DeletionTimestamp},
		Spec: corev1.PodSpec{
			ServiceAccountName: "web-sa",
			NodeName:           "node-a",
			Containers:         []corev1.Container{{Name: "app", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}},
			InitContainers:     []corev1.Container{{Name: "proxy", RestartPolicy: &always, Ports: []corev1.ContainerPort{{Name: "admin", ContainerPort: 15000}}}},
		},
		Status: corev1.PodStatus{
			Phase:      corev1.PodRunning,
			PodIP:      "10.1.0.1",
			PodIPs:     []corev1.PodIP{{IP: "10.1.0.1"}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("slim(pod) (-want +got):\n%s", diff)
	}
	again, _ := slim(got)
	if diff := cmp.Diff(got, again); diff != "" {
		t.Errorf("slim is not idempotent (-first +second):\n%s", diff)
	}

	n := node("node-a", "eu", "eu-1a")
	n.Status.Images = []corev1.ContainerImage{{Names: []string{"example/app:1"}, SizeBytes: 1 << 30}}
	n.Annotations = map[string]string{"node.alpha.kubernetes.io/ttl": "0"}
	out, _ := slim(n)
	if diff := cmp.Diff(node("node-a", "eu", "eu-1a"), out); diff != "" {
		t.Errorf("slim(node) keeps more than identity and labels (-want +got):\n%s", diff)
	}

	svc := service("demo", "web", "10.96.0.10")
	svc.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
	svc.Annotations = map[string]string{corev1.LastAppliedConfigAnnotation: "{...}", "keep": "me"}
	out, _ = slim(svc)
	if s := out.(*corev1.Service); s.ManagedFields != nil || !cmp.Equal(s.Annotations, map[string]string{"keep": "me"}) {
		t.Errorf("slim(service) kept managedFields %v or annotations %v", s.ManagedFields, s.Annotations)
	}
}

// TestIrrelevantUpdatesBuildNothing: a Node's status report, a Namespace's
// annotation and a Pod's unrelated status change are stored without a
// Snapshot build; a Node's new zone is published.
func TestIrrelevantUpdatesBuildNothing(t *testing.T) {
	e := newEnv(t, nil,
		service("demo", "web", "10.96.0.10"), pod("demo", "web", 0, "10.1.0.1", "web-sa"),
		node("node-a", "eu", "eu-1a"), namespace("demo", nil))
	e.start()
	e.next()
	builds := e.buildsSettled() // the builds that follow start-up
	ctx := t.Context()

	n := node("node-a", "eu", "eu-1a")
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Now()}}
	if _, err := e.kube.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	ns := namespace("demo", nil)
	ns.Annotations = map[string]string{"owner": "team-a"}
	if _, err := e.kube.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := pod("demo", "web", 0, "10.1.0.1", "web-sa")
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", RestartCount: 1}}
	if _, err := e.kube.CoreV1().Pods("demo").Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.quiet(300 * time.Millisecond)
	if got := e.metric("pilotlight_kube_snapshot_builds_total"); got != builds {
		t.Errorf("%v builds after updates the model does not read, want none", got-builds)
	}

	if _, err := e.kube.CoreV1().Nodes().Update(ctx, node("node-a", "eu", "eu-1b"), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.until("endpoint in the Node's new zone", func(p published) error {
		eps := p.snap.Endpoints(webHost)
		if len(eps) != 1 || eps[0].Locality.Zone != "eu-1b" {
			return fmt.Errorf("endpoints = %v, want one in zone eu-1b", eps)
		}
		return nil
	})
}
