package xds

import (
	"slices"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/pilotlight/pilotlight/translate"
	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/model/modeltest"
	"github.com/pilotlight/pilotlight/translate/resource"
	"github.com/pilotlight/pilotlight/xds/client"
	"github.com/pilotlight/pilotlight/xds/xdstest"
)

func sidecarNode(pod, ns, ip string) xdstest.Node {
	return xdstest.Node{Pod: pod, Namespace: ns, IP: ip, ServiceAccount: "default", Labels: map[string]string{"app": pod}}
}

// reference is what translate says a proxy gets for a subscription.
func reference(t *testing.T, snap *model.Snapshot, n xdstest.Node, typeURL string, names []string) map[string]proto.Message {
	t.Helper()
	p, err := model.ParseProxy(n.Proto())
	if err != nil {
		t.Fatal(err)
	}
	res, err := translate.Generate(snap, p, typeURL, names)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]proto.Message{}
	for _, r := range res {
		out[r.Name] = r.Message
	}
	return out
}

func TestSotwWildcardClustersAndNamedEndpoints(t *testing.T) {
	h := newHarness(t)
	snap := modeltest.Mesh{Services: 20, Endpoints: 3, Namespaces: 2}.Build()
	h.install(snap)
	node := sidecarNode("app-0", "ns-0", modeltest.PodIP(0))
	c := h.dial(node.Proto(), client.Options{})

	if err := c.Subscribe(resource.ClusterType); err != nil {
		t.Fatal(err)
	}
	cds := next(t, c)
	if cds.TypeURL != resource.ClusterType {
		t.Fatalf("got %s, want clusters", cds.TypeURL)
	}
	if diff := cmp.Diff(reference(t, snap, node, resource.ClusterType, nil), cds.Resources, protocmp.Transform()); diff != "" {
		t.Errorf("wildcard CDS differs from translate.Generate (-want +got):\n%s", diff)
	}

	// Subscribe to the endpoints of two EDS clusters and a name that does
	// not exist: exactly the two come back.
	var edsNames []string
	for name, m := range cds.Resources {
		if m.(*clusterv3.Cluster).GetType() == clusterv3.Cluster_EDS {
			edsNames = append(edsNames, name)
		}
	}
	slices.Sort(edsNames)
	if len(edsNames) < 3 {
		t.Fatalf("want at least three EDS clusters, got %v", edsNames)
	}
	asked := []string{edsNames[0], edsNames[1], "outbound|9999||nowhere.ns-0.svc.cluster.local"}
	if err := c.Subscribe(resource.EndpointType, asked...); err != nil {
		t.Fatal(err)
	}
	eds := next(t, c)
	if eds.TypeURL != resource.EndpointType {
		t.Fatalf("got %s, want endpoints", eds.TypeURL)
	}
	if diff := cmp.Diff(reference(t, snap, node, resource.EndpointType, asked), eds.Resources, protocmp.Transform()); diff != "" {
		t.Errorf("named EDS (-want +got):\n%s", diff)
	}
	if len(eds.Resources) != 2 {
		t.Errorf("got %d endpoints resources, want 2", len(eds.Resources))
	}

	// Narrowing the subscription needs no answer (the client drops what
	// it no longer wants); widening it again is answered with the whole
	// subscribed state.
	if err := c.Subscribe(resource.EndpointType, edsNames[1]); err != nil {
		t.Fatal(err)
	}
	quiet(t, c, 200*time.Millisecond)
	if err := c.Subscribe(resource.EndpointType, edsNames[1], edsNames[2]); err != nil {
		t.Fatal(err)
	}
	eds = next(t, c)
	if got := slices.Sorted(mapKeys(eds.Resources)); !slices.Equal(got, edsNames[1:3]) {
		t.Errorf("after widening got %v, want %v", got, edsNames[1:3])
	}

	// ACKs leave the watches open: nothing more arrives until the mesh changes.
	quiet(t, c, 200*time.Millisecond)
	if got := h.metric("pilotlight_xds_connected_proxies", nil); got != 1 {
		t.Errorf("connected proxies = %v, want 1", got)
	}
}

func TestSotwPushesOnlyChangedTypes(t *testing.T) {
	h := newHarness(t)
	mesh := modeltest.Mesh{Services: 10, Endpoints: 2}
	h.install(mesh.Build())
	node := sidecarNode("app-0", "ns-0", "10.200.0.1")
	c := h.dial(node.Proto(), client.Options{})
	subscribe(t, c, resource.ClusterType)
	cds := next(t, c)
	name := resource.OutboundClusterName(8080, "", modeltest.Hostname("svc-1", "ns-0"))
	if _, ok := cds.Resources[name]; !ok {
		t.Fatalf("no cluster %s", name)
	}
	subscribe(t, c, resource.EndpointType, name)
	next(t, c)

	// A new endpoint of svc-1: EDS only, holding the new endpoint.
	b := mesh.Builder()
	b.AddEndpoints(modeltest.Endpoint(modeltest.Hostname("svc-1", "ns-0"), "ns-0", "10.250.0.9", 0))
	snap := b.Build()
	h.install(snap)
	u := next(t, c)
	if u.TypeURL != resource.EndpointType {
		t.Fatalf("got a %s push, want endpoints only", u.TypeURL)
	}
	if diff := cmp.Diff(reference(t, snap, node, resource.EndpointType, []string{name}), u.Resources, protocmp.Transform()); diff != "" {
		t.Errorf("pushed EDS (-want +got):\n%s", diff)
	}
	quiet(t, c, 200*time.Millisecond)

	// An endpoint change of a cluster the client does not watch: nothing.
	b = mesh.Builder()
	b.AddEndpoints(modeltest.Endpoint(modeltest.Hostname("svc-1", "ns-0"), "ns-0", "10.250.0.9", 0))
	b.AddEndpoints(modeltest.Endpoint(modeltest.Hostname("svc-2", "ns-0"), "ns-0", "10.250.0.10", 0))
	h.install(b.Build())
	quiet(t, c, 200*time.Millisecond)
	if got := h.metric("pilotlight_xds_pushes_total", map[string]string{"type": "eds", "reason": "endpoints"}); got != 1 {
		t.Errorf("endpoint pushes = %v, want 1", got)
	}

	// A new service: a full push of clusters (and of endpoints only if the
	// watched cluster changed, which it did not).
	b = mesh.Builder()
	b.AddEndpoints(modeltest.Endpoint(modeltest.Hostname("svc-1", "ns-0"), "ns-0", "10.250.0.9", 0))
	b.AddEndpoints(modeltest.Endpoint(modeltest.Hostname("svc-2", "ns-0"), "ns-0", "10.250.0.10", 0))
	b.AddService(&model.Service{Hostname: "new.ns-0.svc.cluster.local", Name: "new", Namespace: "ns-0",
		Addresses: []string{"10.96.100.1"}, Ports: []model.Port{{Name: "http", Number: 8080, Protocol: model.HTTP}}})
	h.install(b.Build())
	u = next(t, c)
	if u.TypeURL != resource.ClusterType || len(u.Resources) != len(cds.Resources)+1 {
		t.Fatalf("got %s with %d resources, want clusters with %d", u.TypeURL, len(u.Resources), len(cds.Resources)+1)
	}
	quiet(t, c, 200*time.Millisecond)
	if got := h.metric("pilotlight_xds_full_pushes_total", nil); got != 2 {
		t.Errorf("full pushes = %v, want 2 (first snapshot, new service)", got)
	}
	if got := h.metric("pilotlight_xds_push_duration_seconds", nil); got != 2 {
		t.Errorf("push duration samples = %v, want 2", got)
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
