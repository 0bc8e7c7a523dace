package xds

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/model/modeltest"
	"github.com/pilotlight/pilotlight/translate/resource"
	"github.com/pilotlight/pilotlight/xds/client"
	"github.com/pilotlight/pilotlight/xds/xdstest"
)

// TestProxylessNamedSubscriptions follows what a grpc-go client asks for:
// a listener per dial target (built on demand by name), then the route,
// cluster and endpoints it names, each by name and each answered with
// exactly what was asked.
func TestProxylessNamedSubscriptions(t *testing.T) {
	h := newHarness(t)
	snap := modeltest.Mesh{Services: 10, Endpoints: 2}.Build()
	h.install(snap)
	node := xdstest.Node{Pod: "grpc-client", Namespace: "ns-0", IP: "10.200.0.1", Generator: model.GeneratorGRPC}
	c := h.dial(node.Proto(), client.Options{})

	check := func(typeURL string, names ...string) client.Update {
		t.Helper()
		if err := c.Subscribe(typeURL, names...); err != nil {
			t.Fatal(err)
		}
		u := next(t, c)
		if u.TypeURL != typeURL {
			t.Fatalf("got %s, want %s", u.TypeURL, typeURL)
		}
		if diff := cmp.Diff(reference(t, snap, node, typeURL, names), u.Resources, protocmp.Transform()); diff != "" {
			t.Errorf("%s %v (-want +got):\n%s", typeURL, names, diff)
		}
		return u
	}
	lds := check(resource.ListenerType, "svc-3:8080", "svc-4.ns-0.svc.cluster.local:8080", "unknown:80")
	if got := slices.Sorted(mapKeys(lds.Resources)); len(got) != 2 {
		t.Errorf("listeners %v, want the two that exist", got)
	}
	cluster := resource.OutboundClusterName(8080, "", modeltest.Hostname("svc-3", "ns-0"))
	check(resource.RouteType, cluster)
	check(resource.ClusterType, cluster)
	check(resource.EndpointType, cluster)

	// A gRPC server asks for its inbound listener by address.
	inbound := resource.GRPCInboundListenerPrefix + "10.200.0.1:9000"
	u := check(resource.ListenerType, "svc-3:8080", "svc-4.ns-0.svc.cluster.local:8080", inbound)
	if _, ok := u.Resources[inbound]; !ok {
		t.Errorf("no server listener %s", inbound)
	}

	// An endpoint change of svc-3 reaches this client as EDS only.
	b := modeltest.Mesh{Services: 10, Endpoints: 2}.Builder()
	b.AddEndpoints(modeltest.Endpoint(modeltest.Hostname("svc-3", "ns-0"), "ns-0", "10.250.0.1", 0))
	h.install(b.Build())
	if u := next(t, c); u.TypeURL != resource.EndpointType {
		t.Errorf("got a %s push, want endpoints", u.TypeURL)
	}
	quiet(t, c, 200*time.Millisecond)
}
