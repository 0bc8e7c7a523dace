package convert

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pilotlight/pilotlight/translate/model"
)

func TestServiceEntryServices(t *testing.T) {
	snap := storeOf(t, "serviceentries.yaml").Build(nil, "")
	payments := func(host string) *model.Service {
		return &model.Service{
			Hostname: host, Name: "payments", Namespace: "shop", Addresses: []string{"240.0.0.10"},
			Ports: []model.Port{
				{Name: "http", Number: 80, Protocol: model.HTTP},
				{Name: "grpc", Number: 9090, Protocol: model.GRPC},
			},
			Resolution: model.ClientSideLB, Labels: map[string]string{"team": "pay"}, Origin: model.FromServiceEntry,
		}
	}
	want := []*model.Service{
		{
			Hostname: "api.example.com", Name: "api", Namespace: "shop",
			Ports:      []model.Port{{Name: "tls", Number: 443, Protocol: model.TLS}},
			Resolution: model.DNSLB, MeshExternal: true, Origin: model.FromServiceEntry,
		},
		{
			Hostname: "cdn.example.com", Name: "cdn", Namespace: "shop",
			Ports:      []model.Port{{Name: "https", Number: 443, Protocol: model.HTTPS}},
			Resolution: model.DNSRoundRobin, MeshExternal: true, Origin: model.FromServiceEntry,
		},
		{
			// NONE keeps the target port on the service: there are no
			// endpoints to carry it. A /32 is an address, not a range.
			Hostname: "db.legacy", Name: "databases", Namespace: "shop",
			Addresses: []string{"10.30.0.5", "10.40.0.9"}, CIDRs: []string{"10.20.0.0/16"},
			Ports:      []model.Port{{Name: "tcp-pg", Number: 5432, Protocol: model.TCP, TargetPort: 6432}},
			Resolution: model.Passthrough, MeshExternal: true, Origin: model.FromServiceEntry,
		},
		{
			Hostname: "mirror.example.com", Name: "mirrors", Namespace: "shop",
			Ports:      []model.Port{{Name: "http", Number: 80, Protocol: model.HTTP}},
			Resolution: model.DNSLB, MeshExternal: true, Origin: model.FromServiceEntry,
		},
		payments("pay.internal"),
		payments("payments.internal"),
	}
	if diff := cmp.Diff(want, snap.Services()); diff != "" {
		t.Errorf("services (-want +got):\n%s", diff)
	}
	// ServiceEntries are services now, not configs: editing one is a
	// service or endpoint change, never a config push.
	if got := snap.Configs(model.KindServiceEntry); len(got) != 0 {
		t.Errorf("ServiceEntries kept as configs: %v", got)
	}
}

func TestServiceEntryEndpoints(t *testing.T) {
	snap := storeOf(t, "serviceentries.yaml").Build(nil, "")
	ep := func(host, port, addr string, num uint32) *model.Endpoint {
		return &model.Endpoint{ServiceHostname: host, ServicePortName: port, Address: addr, Port: num, Namespace: "shop"}
	}
	payments := func(host string) []*model.Endpoint {
		v1 := func(port string, num uint32) *model.Endpoint {
			e := ep(host, port, "10.1.0.1", num)
			e.Labels = map[string]string{"version": "v1"}
			e.Locality = model.Locality{Region: "eu", Zone: "eu-1a"}
			e.Weight = 3
			e.ServiceAccount = "payments"
			return e
		}
		v2 := func(port string, num uint32) *model.Endpoint {
			e := ep(host, port, "10.1.0.2", num)
			e.Labels = map[string]string{"version": "v2"}
			return e
		}
		// An endpoint's own port of the port's name wins, then
		// targetPort, then the port number.
		return []*model.Endpoint{v1("grpc", 19090), v2("grpc", 9090), v1("http", 8080), v2("http", 8080)}
	}
	tests := []struct {
		host string
		want []*model.Endpoint
	}{
		{"payments.internal", payments("payments.internal")},
		{"pay.internal", payments("pay.internal")},
		// DNS without endpoints: the proxy resolves the host itself.
		{"api.example.com", []*model.Endpoint{ep("api.example.com", "tls", "api.example.com", 8443)}},
		{"cdn.example.com", []*model.Endpoint{ep("cdn.example.com", "https", "cdn.example.com", 443)}},
		// DNS with endpoints: names and IPs alike.
		{"mirror.example.com", []*model.Endpoint{
			ep("mirror.example.com", "http", "192.0.2.7", 80),
			ep("mirror.example.com", "http", "eu.mirror.example.com", 8080),
		}},
		{"db.legacy", nil},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, snap.Endpoints(tt.host), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("endpoints (-want +got):\n%s", diff)
			}
		})
	}
}

func TestServiceEntryWorkloadSelector(t *testing.T) {
	snap := storeOf(t, "workloadentries.yaml").Build(nil, "")
	const host = "inventory.vms.mesh"
	vm1 := func(port string, num uint32) *model.Endpoint {
		return &model.Endpoint{
			ServiceHostname: host, ServicePortName: port, Address: "10.2.0.1", Port: num,
			Labels:         map[string]string{"app": "inventory", "version": "v1"},
			ServiceAccount: "inventory", Namespace: "vms", WorkloadName: "vm-1",
			Locality: model.Locality{Region: "eu", Zone: "eu-1a", SubZone: "rack-2"}, Weight: 5,
		}
	}
	vm2 := func(port string, num uint32) *model.Endpoint {
		return &model.Endpoint{
			ServiceHostname: host, ServicePortName: port, Address: "10.2.0.2", Port: num,
			Labels:    map[string]string{"app": "inventory", "istio-locality": "us.us-1c"},
			Namespace: "vms", WorkloadName: "vm-2",
			Locality: model.Locality{Region: "us", Zone: "us-1c"}, Health: model.Unhealthy,
		}
	}
	pod := func(port string, num uint32) *model.Endpoint {
		return &model.Endpoint{
			ServiceHostname: host, ServicePortName: port, Address: "10.244.5.5", Port: num,
			Labels: map[string]string{"app": "inventory"}, ServiceAccount: "inv-pod", Namespace: "vms",
			WorkloadName: "inventory-pod", Locality: model.Locality{Region: "eu", Zone: "eu-1b"},
		}
	}
	// vm-1 has no port named grpc (only grpc-alt), so the port number is
	// used; the Pod names its grpc container port. vm-named has a host
	// name, which STATIC resolution cannot use; vm-elsewhere is in
	// another namespace.
	want := []*model.Endpoint{
		vm1("grpc", 7070), vm2("grpc", 7070), pod("grpc", 27070),
		vm1("http", 18000), vm2("http", 8000), pod("http", 8000),
	}
	if diff := cmp.Diff(want, snap.Endpoints(host)); diff != "" {
		t.Errorf("endpoints (-want +got):\n%s", diff)
	}
	if svc := snap.Service(host); svc == nil || !cmp.Equal(svc.Selector, map[string]string{"app": "inventory"}) || svc.MeshExternal {
		t.Errorf("service = %+v, want an internal service with the workload selector", svc)
	}
	if got := snap.Configs(model.KindWorkloadEntry); len(got) != 0 {
		t.Errorf("WorkloadEntries kept as configs: %v", got)
	}
}

// A Kubernetes Service selects WorkloadEntries as it selects Pods.
func TestKubernetesServiceSelectsWorkloadEntries(t *testing.T) {
	snap := storeOf(t, "workloadentries.yaml").Build(nil, "")
	host := "inventory-kube.vms.svc.cluster.local"
	var got []string
	for _, e := range snap.Endpoints(host) {
		got = append(got, e.ServicePortName+" "+e.WorkloadName+" "+model.JoinHostPort(e.Address, e.Port))
	}
	// A numeric target port is used as is; a named one through the
	// entry's ports (vm-2 has none, so it does not serve grpc); no target
	// port means the service port. The Pod, found the usual way, does not
	// expose grpc-alt.
	want := []string{
		"grpc vm-1 10.2.0.1:17070",
		"http vm-1 10.2.0.1:8001",
		"http vm-2 10.2.0.2:8001",
		"http inventory-pod 10.244.5.5:8001",
		"metrics vm-1 10.2.0.1:9100",
		"metrics vm-2 10.2.0.2:9100",
		"metrics inventory-pod 10.244.5.5:9100",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("endpoints (-want +got):\n%s", diff)
	}
	if eps := snap.Endpoints("inventory-headless.vms.svc.cluster.local"); len(eps) != 1 || eps[0].WorkloadName != "inventory-pod" {
		t.Errorf("headless service endpoints = %v, want the Pod only", eps)
	}
}

func TestServiceExportTo(t *testing.T) {
	se := func(name, host string, exportTo ...string) *networkingv1.ServiceEntry {
		return &networkingv1.ServiceEntry{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"},
			Spec: networkingv1alpha3.ServiceEntry{
				Hosts:      []string{host},
				Ports:      []*networkingv1alpha3.ServicePort{{Name: "http", Number: 80, Protocol: "HTTP"}},
				Resolution: networkingv1alpha3.ServiceEntry_DNS,
				ExportTo:   exportTo,
			},
		}
	}
	kube := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "cart", Namespace: "shop", Annotations: map[string]string{AnnotationExportTo: ". , billing"}},
		Spec:       corev1.ServiceSpec{ClusterIP: "10.96.0.9", Ports: []corev1.ServicePort{{Name: "http", Port: 80}}},
	}
	s := NewStore()
	for _, obj := range []*networkingv1.ServiceEntry{
		se("private", "private.example.com", "."),
		se("public", "public.example.com", "*", "."),
		se("plain", "plain.example.com"),
	} {
		if err := s.Set(obj); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Set(kube); err != nil {
		t.Fatal(err)
	}

	exportTo := func(snap *model.Snapshot) map[string][]string {
		out := map[string][]string{}
		for _, svc := range snap.Services() {
			out[svc.Hostname] = svc.ExportTo
		}
		return out
	}
	// "*" anywhere means everywhere, written as nil.
	want := map[string][]string{
		"private.example.com":         {"."},
		"public.example.com":          nil,
		"plain.example.com":           nil,
		"cart.shop.svc.cluster.local": {".", "billing"},
	}
	snap := s.Build(nil, "")
	if diff := cmp.Diff(want, exportTo(snap)); diff != "" {
		t.Errorf("exportTo (-want +got):\n%s", diff)
	}
	if names := hostnames(snap.ServicesFor("other", nil)); !cmp.Equal(names, []string{"plain.example.com", "public.example.com"}) {
		t.Errorf("services seen from namespace other = %v", names)
	}
	if names := hostnames(snap.ServicesFor("billing", nil)); !cmp.Equal(names, []string{"cart.shop.svc.cluster.local", "plain.example.com", "public.example.com"}) {
		t.Errorf("services seen from namespace billing = %v", names)
	}
	if names := hostnames(snap.ServicesFor("shop", nil)); len(names) != 4 {
		t.Errorf("services seen from their own namespace = %v, want all 4", names)
	}

	// The mesh default applies to services that do not say.
	mesh := model.DefaultMeshConfig()
	mesh.DefaultServiceExportTo = []string{"."}
	want["plain.example.com"] = []string{"."}
	if diff := cmp.Diff(want, exportTo(s.Build(mesh, ""))); diff != "" {
		t.Errorf("exportTo with a private mesh default (-want +got):\n%s", diff)
	}
}

func hostnames(svcs []*model.Service) []string {
	var out []string
	for _, s := range svcs {
		out = append(out, s.Hostname)
	}
	return out
}

// One hostname, one service: a Kubernetes Service keeps its name, and of
// two ServiceEntries for one host the older wins.
func TestServiceEntryHostConflicts(t *testing.T) {
	se := func(ns, name string, created time.Time, addr string, hosts ...string) *networkingv1.ServiceEntry {
		return &networkingv1.ServiceEntry{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, CreationTimestamp: metav1.NewTime(created)},
			Spec: networkingv1alpha3.ServiceEntry{
				Hosts:      hosts,
				Ports:      []*networkingv1alpha3.ServicePort{{Name: "http", Number: 80, Protocol: "HTTP"}},
				Resolution: networkingv1alpha3.ServiceEntry_STATIC,
				Endpoints:  []*networkingv1alpha3.WorkloadEntry{{Address: addr}},
			},
		}
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := NewStore()
	for _, obj := range []*networkingv1.ServiceEntry{
		se("a", "newer", t0.Add(time.Hour), "10.0.0.1", "shared.example.com"),
		se("z", "older", t0, "10.0.0.2", "shared.example.com"),
		se("a", "shadow", t0, "10.0.0.3", "cart.shop.svc.cluster.local"),
	} {
		if err := s.Set(obj); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Set(&corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "cart", Namespace: "shop"},
		Spec:       corev1.ServiceSpec{ClusterIP: "10.96.0.9", Ports: []corev1.ServicePort{{Name: "http", Port: 80}}},
	}); err != nil {
		t.Fatal(err)
	}
	snap := s.Build(nil, "")
	if svc := snap.Service("shared.example.com"); svc == nil || svc.Name != "older" {
		t.Errorf("shared.example.com = %+v, want the older ServiceEntry's", svc)
	}
	if eps := snap.Endpoints("shared.example.com"); len(eps) != 1 || eps[0].Address != "10.0.0.2" {
		t.Errorf("shared.example.com endpoints = %v, want the older ServiceEntry's only", eps)
	}
	if svc := snap.Service("cart.shop.svc.cluster.local"); svc == nil || svc.Origin != model.FromKubernetes {
		t.Errorf("cart = %+v, want the Kubernetes Service", svc)
	}
	if eps := snap.Endpoints("cart.shop.svc.cluster.local"); len(eps) != 0 {
		t.Errorf("cart endpoints = %v, want none (the ServiceEntry lost the host)", eps)
	}
}
