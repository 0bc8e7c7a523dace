package convert

import (
	"slices"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	securityv1beta1 "istio.io/api/security/v1beta1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/pilotlight/pilotlight/translate/model"
)

func TestIstioConfigs(t *testing.T) {
	snap := storeOf(t, "istio.yaml").Build(nil, "")

	want := map[model.Kind][]*model.Config{
		model.KindVirtualService: {{
			Kind: model.KindVirtualService, Name: "reviews", Namespace: "shop", Generation: 3,
			Labels: map[string]string{"team": "books"}, Annotations: map[string]string{"note": "canary"},
			Spec: &networkingv1alpha3.VirtualService{
				Hosts: []string{"reviews"},
				Http: []*networkingv1alpha3.HTTPRoute{{Route: []*networkingv1alpha3.HTTPRouteDestination{
					{Destination: &networkingv1alpha3.Destination{Host: "reviews", Subset: "v1"}, Weight: 90},
					{Destination: &networkingv1alpha3.Destination{Host: "reviews", Subset: "v2"}, Weight: 10},
				}}},
			},
		}},
		model.KindDestinationRule: {{
			Kind: model.KindDestinationRule, Name: "reviews", Namespace: "shop",
			Spec: &networkingv1alpha3.DestinationRule{
				Host: "reviews",
				Subsets: []*networkingv1alpha3.Subset{
					{Name: "v1", Labels: map[string]string{"version": "v1"}},
					{Name: "v2", Labels: map[string]string{"version": "v2"}},
				},
			},
		}},
		model.KindGateway: {{
			Kind: model.KindGateway, Name: "edge", Namespace: "shop",
			Spec: &networkingv1alpha3.Gateway{
				Selector: map[string]string{"istio": "ingressgateway"},
				Servers: []*networkingv1alpha3.Server{{
					Port:  &networkingv1alpha3.Port{Number: 80, Name: "http", Protocol: "HTTP"},
					Hosts: []string{"*"},
				}},
			},
		}},
		model.KindPeerAuthentication: {{
			Kind: model.KindPeerAuthentication, Name: "default", Namespace: "shop",
			Spec: &securityv1beta1.PeerAuthentication{
				Mtls: &securityv1beta1.PeerAuthentication_MutualTLS{Mode: securityv1beta1.PeerAuthentication_MutualTLS_STRICT},
			},
		}},
		model.KindAuthorizationPolicy: {{
			Kind: model.KindAuthorizationPolicy, Name: "allow-front", Namespace: "shop",
			Spec: &securityv1beta1.AuthorizationPolicy{
				Action: securityv1beta1.AuthorizationPolicy_ALLOW,
				Rules: []*securityv1beta1.Rule{{From: []*securityv1beta1.Rule_From{{
					Source: &securityv1beta1.Source{Principals: []string{"cluster.local/ns/front/sa/web"}},
				}}}},
			},
		}},
	}
	for _, kind := range model.AllKinds {
		if diff := cmp.Diff(want[kind], snap.Configs(kind), protocmp.Transform()); diff != "" {
			t.Errorf("%s configs (-want +got):\n%s", kind, diff)
		}
	}
	wantNS := &model.Namespace{Name: "shop", Labels: map[string]string{"istio-injection": "enabled"}}
	if diff := cmp.Diff(wantNS, snap.Namespace("shop")); diff != "" {
		t.Errorf("namespace (-want +got):\n%s", diff)
	}
}

// A Config must not share the spec of the object it came from: client-go
// objects embed the spec by value, and an informer or a later load may hand
// the same object around again.
func TestIstioConfigCopiesSpec(t *testing.T) {
	vs := &networkingv1.VirtualService{
		ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "ns", Labels: map[string]string{"a": "b"}},
	}
	vs.Spec.Hosts = []string{"reviews"}
	s := NewStore()
	if err := s.Set(vs); err != nil {
		t.Fatal(err)
	}
	vs.Spec.Hosts[0] = "changed"
	vs.Labels["a"] = "changed"

	got := s.Build(nil, "").Config(model.ConfigKey{Kind: model.KindVirtualService, Namespace: "ns", Name: "r"})
	if got == nil {
		t.Fatal("config missing")
	}
	if hosts := got.Spec.(*networkingv1alpha3.VirtualService).GetHosts(); !slices.Equal(hosts, []string{"reviews"}) {
		t.Errorf("spec hosts = %v, want the value at Set time", hosts)
	}
	if got.Labels["a"] != "b" {
		t.Errorf("labels = %v, want the value at Set time", got.Labels)
	}
}

func TestStoreSetDelete(t *testing.T) {
	s := storeOf(t, "endpointslices.yaml", "istio.yaml")
	before := s.Build(nil, "")
	host := "reviews.shop.svc.cluster.local"
	if before.Service(host) == nil || len(before.Endpoints(host)) == 0 {
		t.Fatal("fixture should give reviews a service and endpoints")
	}

	svcKey := Key{Kind: KindService, Namespace: "shop", Name: "reviews"}
	if _, ok := s.Get(svcKey); !ok {
		t.Fatal("Get: service missing")
	}
	n := s.Len()
	if !s.Delete(svcKey) {
		t.Fatal("Delete reported the service absent")
	}
	if s.Delete(svcKey) {
		t.Error("second Delete reported the service present")
	}
	if s.Len() != n-1 {
		t.Errorf("Len = %d, want %d", s.Len(), n-1)
	}
	after := s.Build(nil, "")
	if after.Service(host) != nil || len(after.Endpoints(host)) != 0 {
		t.Error("service and its endpoints should be gone")
	}
	d := model.DiffSnapshots(before, after)
	if _, ok := d.Services[host]; !ok || len(d.Configs) != 0 {
		t.Errorf("diff = %+v, want the service changed and no config", d)
	}

	vsKey := Key{Kind: Kind(model.KindVirtualService), Namespace: "shop", Name: "reviews"}
	s.Delete(vsKey)
	if c := s.Build(nil, "").Config(model.ConfigKey{Kind: model.KindVirtualService, Namespace: "shop", Name: "reviews"}); c != nil {
		t.Error("deleted VirtualService still in the snapshot")
	}

	if err := s.Set(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "shop"}}); err == nil {
		t.Error("Set of a ConfigMap should fail")
	}
}

// Pod changes reach the endpoints that reference the Pod, without the
// slice changing: the Store joins them at Build time.
func TestStorePodUpdate(t *testing.T) {
	s := storeOf(t, "endpointslices.yaml")
	obj, _ := s.Get(Key{Kind: KindPod, Namespace: "shop", Name: "reviews-v1-abc"})
	pod := obj.(*corev1.Pod).DeepCopy()
	pod.Labels["version"] = "v1b"
	before := s.Build(nil, "")
	if err := s.Set(pod); err != nil {
		t.Fatal(err)
	}
	after := s.Build(nil, "")
	d := model.DiffSnapshots(before, after)
	if !d.EndpointsOnly() {
		t.Errorf("diff = %+v, want endpoints only", d)
	}
	for _, e := range after.Endpoints("reviews.shop.svc.cluster.local") {
		if e.WorkloadName == "reviews-v1-abc" && e.Labels["version"] != "v1b" {
			t.Errorf("endpoint %s has labels %v", e.Address, e.Labels)
		}
	}
}

// The Snapshot version depends on content only: insertion order and
// repeated builds do not change it.
func TestStoreDeterministic(t *testing.T) {
	objs := slices.Concat(loadFixture(t, "endpointslices.yaml"), loadFixture(t, "pods.yaml"), loadFixture(t, "istio.yaml"))
	forward, backward := NewStore(), NewStore()
	for i := range objs {
		if err := forward.Set(objs[i]); err != nil {
			t.Fatal(err)
		}
		if err := backward.Set(objs[len(objs)-1-i]); err != nil {
			t.Fatal(err)
		}
	}
	v1 := forward.Build(nil, "").Version
	for range 5 {
		if v := forward.Build(nil, "").Version; v != v1 {
			t.Fatalf("rebuild gave version %s, want %s", v, v1)
		}
	}
	if v := backward.Build(nil, "").Version; v != v1 {
		t.Errorf("reverse insertion gave version %s, want %s", v, v1)
	}
}

func TestKeys(t *testing.T) {
	tests := []struct {
		obj  runtime.Object
		want Key
		ok   bool
	}{
		{&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Namespace: "ignored"}}, Key{Kind: KindNode, Name: "n1"}, true},
		{&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns"}}, Key{Kind: KindService, Namespace: "ns", Name: "s"}, true},
		{&networkingv1.Sidecar{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "ns"}}, Key{Kind: Kind(model.KindSidecar), Namespace: "ns", Name: "default"}, true},
		{&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "cert", Namespace: "ns"}}, Key{Kind: KindSecret, Namespace: "ns", Name: "cert"}, true},
		{&corev1.ConfigMap{}, Key{}, false},
	}
	for _, tt := range tests {
		got, ok := KeyOf(tt.obj)
		if got != tt.want || ok != tt.ok {
			t.Errorf("KeyOf(%T) = %v, %v; want %v, %v", tt.obj, got, ok, tt.want, tt.ok)
		}
	}
	if k, ok := KindForGroupKind(schema.GroupKind{Group: "networking.istio.io", Kind: "WorkloadEntry"}); !ok || k != Kind(model.KindWorkloadEntry) {
		t.Errorf("KindForGroupKind(WorkloadEntry) = %v, %v", k, ok)
	}
	if _, ok := KindForGroupKind(schema.GroupKind{Group: "apps", Kind: "Deployment"}); ok {
		t.Error("Deployment should not be supported")
	}
}

// Informer handlers call Set and Delete while another goroutine builds;
// run under -race this checks the Store's locking.
func TestStoreConcurrentUse(t *testing.T) {
	s := storeOf(t, "endpointslices.yaml")
	obj, _ := s.Get(Key{Kind: KindPod, Namespace: "shop", Name: "reviews-v1-abc"})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200 {
			pod := obj.(*corev1.Pod).DeepCopy()
			pod.Labels["round"] = strconv.Itoa(i)
			if err := s.Set(pod); err != nil {
				t.Error(err)
				return
			}
			s.Delete(Key{Kind: KindNode, Name: "node-b"})
		}
	}()
	for range 50 {
		if snap := s.Build(nil, ""); snap.Service("reviews.shop.svc.cluster.local") == nil {
			t.Fatal("service missing")
		}
	}
	<-done
}
