package xds

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/model/modeltest"
	"github.com/pilotlight/pilotlight/translate/resource"
	"github.com/pilotlight/pilotlight/xds/xdstest"
)

// TestEndpointOnlyDiffsLeaveOtherTypesAlone checks, against the real
// generators, the assumption the cache makes when it keeps clusters,
// listeners and routes across an endpoint-only change: that for a proxy
// at an address the change does not touch, only EDS can differ. If a
// generator starts reading endpoints elsewhere, this fails and
// invalidationFor must learn about it.
func TestEndpointOnlyDiffsLeaveOtherTypesAlone(t *testing.T) {
	mesh := modeltest.Mesh{Services: 6, Endpoints: 3, Namespaces: 2}
	before := mesh.Build()
	host := modeltest.Hostname("svc-2", "ns-0")
	changes := map[string]func(b *model.Builder){
		"endpoint added": func(b *model.Builder) {
			b.AddEndpoints(modeltest.Endpoint(host, "ns-0", "10.250.0.1", 1))
		},
		"endpoint not ready": func(b *model.Builder) {
			e := modeltest.Endpoint(host, "ns-0", "10.250.0.2", 0)
			e.Health = model.Unhealthy
			b.AddEndpoints(e)
		},
		"endpoints of a new port": func(b *model.Builder) {
			e := modeltest.Endpoint(host, "ns-0", "10.250.0.3", 0)
			e.Port = 9999
			b.AddEndpoints(e)
		},
	}
	nodes := map[string]xdstest.Node{
		"sidecar":   sidecarNode("client", "ns-1", "10.200.0.1"),
		"router":    {Type: "router", Pod: "gw", Namespace: "ns-0", IP: "10.200.0.2"},
		"proxyless": {Pod: "grpc", Namespace: "ns-0", IP: "10.200.0.3", Generator: model.GeneratorGRPC},
	}
	named := map[string][]string{
		resource.ListenerType: {"svc-2:8080", resource.GRPCInboundListenerPrefix + "10.200.0.3:8080"},
	}
	for change, apply := range changes {
		b := mesh.Builder()
		apply(b)
		after := b.Build()
		d := model.DiffSnapshots(before, after)
		inv := invalidationFor(before, after, d)
		if !d.EndpointsOnly() || inv.all {
			t.Fatalf("%s: diff %+v should be endpoint-only and keep entries", change, d)
		}
		for flavor, n := range nodes {
			for _, typeURL := range []string{resource.ClusterType, resource.ListenerType, resource.RouteType} {
				names := named[typeURL]
				if flavor != "proxyless" {
					names = nil
				}
				want := reference(t, before, n, typeURL, names)
				got := reference(t, after, n, typeURL, names)
				if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
					t.Errorf("%s changed %s %s although the cache keeps it (-before +after):\n%s", change, flavor, typeURL, diff)
				}
			}
		}
	}
}

func TestHeadlessEndpointChangesInvalidateEverything(t *testing.T) {
	b := modeltest.Mesh{Services: 2, Endpoints: 1}.Builder()
	headless := &model.Service{Hostname: "db.ns-0.svc.cluster.local", Name: "db", Namespace: "ns-0",
		Resolution: model.Passthrough, Ports: []model.Port{{Name: "http", Number: 8080, Protocol: model.TCP}}}
	b.AddService(headless)
	before := b.Build()
	b.AddEndpoints(modeltest.Endpoint(headless.Hostname, "ns-0", "10.250.0.1", 0))
	after := b.Build()
	if inv := invalidationFor(before, after, model.DiffSnapshots(before, after)); !inv.all {
		t.Errorf("a headless service's endpoints feed its listeners; got %+v, want everything invalidated", inv)
	}
}

// Clusters accept the identities of a service's endpoints over Istio
// mTLS: an endpoint with a new service account changes them.
func TestNewServiceAccountInvalidatesEverything(t *testing.T) {
	b := modeltest.Mesh{Services: 2, Endpoints: 1}.Builder()
	before := b.Build()
	host := modeltest.Hostname("svc-0", "ns-0")
	e := modeltest.Endpoint(host, "ns-0", "10.250.0.1", 0)
	e.ServiceAccount = "canary"
	b.AddEndpoints(e)
	after := b.Build()
	if inv := invalidationFor(before, after, model.DiffSnapshots(before, after)); !inv.all {
		t.Errorf("a new service account changes the SANs clusters accept; got %+v, want everything invalidated", inv)
	}
	sidecar := sidecarNode("client", "ns-0", "10.200.0.1")
	if diff := cmp.Diff(reference(t, before, sidecar, resource.ClusterType, nil), reference(t, after, sidecar, resource.ClusterType, nil), protocmp.Transform()); diff == "" {
		t.Error("the clusters did not change: the test no longer proves that they depend on service accounts")
	}
}
