package model_test

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/model/modeltest"
)

var mesh = modeltest.Mesh{Namespaces: 2, Services: 4, Endpoints: 3}

// host is the hostname of the i-th service of mesh.
func host(i int) string {
	return modeltest.Hostname(fmt.Sprintf("svc-%d", i), modeltest.NamespaceName(i%mesh.Namespaces))
}

func TestSnapshotIndexes(t *testing.T) {
	s := mesh.Build()
	if got := len(s.Services()); got != 4 {
		t.Fatalf("services = %d", got)
	}
	host := host(1)
	if s.Service(host) == nil {
		t.Fatalf("service %s not indexed", host)
	}
	if got := len(s.EndpointsForPort(host, "http")); got != 3 {
		t.Errorf("endpoints for http = %d, want 3", got)
	}
	if got := len(s.EndpointsForPort(host, "nope")); got != 0 {
		t.Errorf("endpoints for unknown port = %d, want 0", got)
	}
	inst := s.InstancesAt([]string{modeltest.PodIP(1*mesh.Endpoints + 2)})
	if len(inst) != 1 || inst[0].Service.Hostname != host || inst[0].Port.Name != "http" {
		t.Errorf("InstancesAt = %+v", inst)
	}
}

func TestSnapshotVersionIsContent(t *testing.T) {
	a, b := mesh.Build(), mesh.Build()
	if a.Version != b.Version {
		t.Errorf("equal content, different versions %s %s", a.Version, b.Version)
	}
	if d := model.DiffSnapshots(a, b); !d.Empty() {
		t.Errorf("equal content, diff %+v", d)
	}
}

func TestDiff(t *testing.T) {
	old := mesh.Build()

	// An endpoint change is an endpoint-only diff naming that service.
	b := mesh.Builder()
	b.AddEndpoints(&model.Endpoint{ServiceHostname: host(2), ServicePortName: "http", Address: "10.200.0.1", Port: 8080})
	cur := b.Build()
	d := model.DiffSnapshots(old, cur)
	if !d.EndpointsOnly() {
		t.Errorf("diff %+v is not endpoints-only", d)
	}
	if diff := cmp.Diff(map[string]struct{}{host(2): {}}, d.Endpoints); diff != "" {
		t.Errorf("changed endpoints (-want +got):\n%s", diff)
	}
	if old.Version == cur.Version {
		t.Error("version did not change")
	}

	// A new config object is a config change, not endpoints-only.
	b = mesh.Builder()
	b.AddConfig(&model.Config{Kind: model.KindDestinationRule, Name: "dr", Namespace: "ns-0",
		Spec: &networkingv1alpha3.DestinationRule{Host: host(0)}})
	d = model.DiffSnapshots(old, b.Build())
	key := model.ConfigKey{Kind: model.KindDestinationRule, Namespace: "ns-0", Name: "dr"}
	if _, ok := d.Configs[key]; !ok || d.EndpointsOnly() {
		t.Errorf("config diff %+v", d)
	}

	// A removed service is a service change.
	small := modeltest.Mesh{Namespaces: 2, Services: 3, Endpoints: 3}.Build()
	d = model.DiffSnapshots(old, small)
	if _, ok := d.Services[host(3)]; !ok {
		t.Errorf("removed service missing from diff %+v", d)
	}
	if !model.DiffSnapshots(nil, old).Full {
		t.Error("diff from nothing must be full")
	}
}

func TestResolveHost(t *testing.T) {
	s := mesh.Build()
	svc := s.Service(host(1)) // svc-1 in ns-1
	for _, tc := range []struct {
		name, ns string
		want     *model.Service
	}{
		{"svc-1.ns-1.svc.cluster.local", "ns-0", svc},
		{"svc-1.ns-1.svc", "ns-0", svc},
		{"svc-1.ns-1", "ns-0", svc},
		{"svc-1", "ns-1", svc},
		{"svc-1", "ns-0", nil}, // short names resolve in the client's namespace only
		{"svc-9", "ns-1", nil},
	} {
		if got := s.ResolveHost(tc.name, tc.ns); got != tc.want {
			t.Errorf("ResolveHost(%q, %q) = %v, want %v", tc.name, tc.ns, got, tc.want)
		}
	}
	if diff := cmp.Diff([]string{svc.Hostname, "svc-1.ns-1.svc", "svc-1.ns-1", "svc-1"}, model.HostAliases(svc, "ns-1")); diff != "" {
		t.Errorf("aliases from own namespace:\n%s", diff)
	}
	if diff := cmp.Diff([]string{svc.Hostname, "svc-1.ns-1.svc", "svc-1.ns-1"}, model.HostAliases(svc, "ns-0")); diff != "" {
		t.Errorf("aliases from another namespace:\n%s", diff)
	}
}

func TestParseMeshConfig(t *testing.T) {
	m, err := model.ParseMeshConfig([]byte("trustDomain: example.org\noutboundTrafficPolicy:\n  mode: REGISTRY_ONLY\n"))
	if err != nil {
		t.Fatal(err)
	}
	if m.GetTrustDomain() != "example.org" || m.GetOutboundTrafficPolicy().GetMode().String() != "REGISTRY_ONLY" {
		t.Errorf("settings not applied: %v", m)
	}
	if m.GetConnectTimeout().AsDuration().Seconds() != 10 {
		t.Errorf("default connect timeout lost: %v", m.GetConnectTimeout())
	}
	if _, err := model.ParseMeshConfig([]byte("trustDomian: typo\n")); err == nil {
		t.Error("a misspelt field must be an error")
	}
	if _, err := model.ParseMeshConfig([]byte("trustDomain: [\n")); err == nil {
		t.Error("broken YAML must be an error")
	}
}
