package model

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestServiceIdentities(t *testing.T) {
	b := NewBuilder()
	mesh := DefaultMeshConfig()
	mesh.TrustDomainAliases = []string{"old.example"}
	b.SetMesh(mesh)
	b.AddService(&Service{Hostname: "a.ns.svc.cluster.local", Name: "a", Namespace: "ns", Ports: []Port{{Name: "http", Number: 80}, {Name: "grpc", Number: 90}}})
	b.AddService(&Service{Hostname: "dns.example", Name: "dns", Namespace: "ns", Ports: []Port{{Name: "http", Number: 80}}})
	b.AddEndpoints(
		&Endpoint{ServiceHostname: "a.ns.svc.cluster.local", ServicePortName: "http", Address: "10.0.0.1", Namespace: "ns", ServiceAccount: "a"},
		&Endpoint{ServiceHostname: "a.ns.svc.cluster.local", ServicePortName: "grpc", Address: "10.0.0.1", Namespace: "ns", ServiceAccount: "a"},
		&Endpoint{ServiceHostname: "a.ns.svc.cluster.local", ServicePortName: "http", Address: "10.0.0.2", Namespace: "ns", ServiceAccount: "canary", Health: Unhealthy},
		&Endpoint{ServiceHostname: "dns.example", ServicePortName: "http", Address: "dns.example"},
	)
	s := b.Build()
	want := []string{
		"spiffe://cluster.local/ns/ns/sa/a",
		"spiffe://cluster.local/ns/ns/sa/canary",
		"spiffe://old.example/ns/ns/sa/a",
		"spiffe://old.example/ns/ns/sa/canary",
	}
	if diff := cmp.Diff(want, s.ServiceIdentities("a.ns.svc.cluster.local")); diff != "" {
		t.Errorf("ServiceIdentities (-want +got):\n%s", diff)
	}
	if got := s.ServiceIdentities("dns.example"); got != nil {
		t.Errorf("ServiceIdentities of a service without service accounts = %v, want nil", got)
	}
}
