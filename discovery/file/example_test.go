package file

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pilotlight/pilotlight/translate/model"
)

// The demo mesh in deploy/examples must load without a single problem and
// mean what its README says.
func TestBookstoreExample(t *testing.T) {
	examples := filepath.Join("..", "..", "deploy", "examples")
	data, err := os.ReadFile(filepath.Join(examples, "mesh.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	mesh, err := model.ParseMeshConfig(data)
	if err != nil {
		t.Fatal(err)
	}
	if mesh.GetTrustDomain() != "cluster.local" {
		t.Errorf("trust domain %q", mesh.GetTrustDomain())
	}
	snap, problems := mustLoad(t, New(filepath.Join(examples, "bookstore"), Options{Mesh: mesh}))
	for _, p := range problems {
		t.Errorf("problem: %v", p)
	}

	type svc struct {
		Host       string
		Resolution model.Resolution
		Protocol   model.Protocol
		Endpoints  int
	}
	var got []svc
	for _, s := range snap.Services() {
		got = append(got, svc{s.Hostname, s.Resolution, s.Ports[0].Protocol, len(snap.Endpoints(s.Hostname))})
	}
	want := []svc{
		{"catalog.bookstore.svc.cluster.local", model.ClientSideLB, model.GRPC, 3},
		{"frontend.storefront.svc.cluster.local", model.ClientSideLB, model.HTTP, 2},
		{"inventory-db.bookstore.svc.cluster.local", model.ClientSideLB, model.TCP, 1},
		{"ratings.bookstore.svc.cluster.local", model.ClientSideLB, model.GRPC, 2},
		{"reviews.bookstore.svc.cluster.local", model.ClientSideLB, model.HTTP, 3},
		{"search.bookstore.svc.cluster.local", model.Passthrough, model.HTTP, 2},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("services (-want +got):\n%s", diff)
	}

	// One endpoint from a slice and one derived from a Pod, in full.
	wantEndpoints := map[string]*model.Endpoint{
		"catalog.bookstore.svc.cluster.local": {
			ServiceHostname: "catalog.bookstore.svc.cluster.local", ServicePortName: "grpc",
			Address: "10.244.3.20", Port: 9090,
			Labels:         map[string]string{"app": "catalog", "version": "v2"},
			ServiceAccount: "catalog", Namespace: "bookstore", WorkloadName: "catalog-v2-6d8e9f7a1-t3u5v",
			Locality: model.Locality{Region: "us-east", Zone: "us-east-1b", SubZone: "rack-b2"},
		},
		"ratings.bookstore.svc.cluster.local": {
			ServiceHostname: "ratings.bookstore.svc.cluster.local", ServicePortName: "grpc",
			Address: "10.244.2.40", Port: 50051,
			Labels:         map[string]string{"app": "ratings", "version": "v1"},
			ServiceAccount: "ratings", Namespace: "bookstore", WorkloadName: "ratings-v1-6c5d4e3f2-x4c6d",
			Locality: model.Locality{Region: "us-east", Zone: "us-east-1b"},
		},
	}
	for host, want := range wantEndpoints {
		eps := snap.Endpoints(host)
		if len(eps) == 0 {
			t.Errorf("%s has no endpoints", host)
			continue
		}
		if diff := cmp.Diff(want, eps[len(eps)-1]); diff != "" {
			t.Errorf("last endpoint of %s (-want +got):\n%s", host, diff)
		}
	}

	if snap.Config(model.ConfigKey{Kind: model.KindDestinationRule, Namespace: "bookstore", Name: "catalog"}) == nil {
		t.Error("DestinationRule bookstore/catalog missing")
	}
	for _, ns := range []string{"bookstore", "storefront"} {
		if snap.Namespace(ns) == nil {
			t.Errorf("namespace %s missing", ns)
		}
	}
}
