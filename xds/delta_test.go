package xds

import (
	"maps"
	"slices"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/pilotlight/pilotlight/translate/model/modeltest"
	"github.com/pilotlight/pilotlight/translate/resource"
	"github.com/pilotlight/pilotlight/xds/client"
	"github.com/pilotlight/pilotlight/xds/xdstest"
)

// deltaSidecar connects a delta client the way Envoy does: wildcard CDS
// and LDS, then EDS for every EDS cluster, and drains the initial state.
func deltaSidecar(t *testing.T, h *harness, node xdstest.Node) (*client.Client, map[string]bool) {
	t.Helper()
	c := h.dial(node.Proto(), client.Options{Delta: true})
	subscribe(t, c, resource.ClusterType)
	cds := next(t, c)
	if cds.TypeURL != resource.ClusterType {
		t.Fatalf("got %s, want clusters", cds.TypeURL)
	}
	subscribe(t, c, resource.ListenerType)
	if u := next(t, c); u.TypeURL != resource.ListenerType {
		t.Fatalf("got %s, want listeners", u.TypeURL)
	}
	var edsNames []string
	for name, m := range cds.Resources {
		if m.(*clusterv3.Cluster).GetType() == clusterv3.Cluster_EDS {
			edsNames = append(edsNames, name)
		}
	}
	subscribe(t, c, resource.EndpointType, edsNames...)
	eds := next(t, c)
	if eds.TypeURL != resource.EndpointType || len(eds.Resources) != len(edsNames) {
		t.Fatalf("got %s with %d resources, want endpoints of %d clusters", eds.TypeURL, len(eds.Resources), len(edsNames))
	}
	quiet(t, c, 100*time.Millisecond)
	known := map[string]bool{}
	for _, n := range edsNames {
		known[n] = true
	}
	return c, known
}

func TestDeltaEndpointChangeSendsOnlyThatAssignment(t *testing.T) {
	h := newHarness(t)
	mesh := modeltest.Mesh{Services: 50, Endpoints: 4, Namespaces: 2}
	h.install(mesh.Build())
	node := sidecarNode("client", "ns-1", "10.200.0.1")
	c, _ := deltaSidecar(t, h, node)

	host := modeltest.Hostname("svc-7", "ns-1")
	b := mesh.Builder()
	b.AddEndpoints(modeltest.Endpoint(host, "ns-1", "10.250.0.1", 1))
	snap := b.Build()
	cdsBefore := h.metric("pilotlight_xds_generated_resources_total", map[string]string{"type": "cds"})
	h.install(snap)

	u := next(t, c)
	want := resource.OutboundClusterName(8080, "", host)
	if u.TypeURL != resource.EndpointType || !slices.Equal(slices.Sorted(maps.Keys(u.Resources)), []string{want}) || len(u.Removed) != 0 {
		t.Fatalf("got %s with %v (removed %v), want endpoints with only %s", u.TypeURL, slices.Sorted(maps.Keys(u.Resources)), u.Removed, want)
	}
	if diff := cmp.Diff(reference(t, snap, node, resource.EndpointType, []string{want}), u.Resources, protocmp.Transform()); diff != "" {
		t.Errorf("pushed assignment (-want +got):\n%s", diff)
	}
	quiet(t, c, 200*time.Millisecond)

	// The endpoint-only diff kept the cluster entries: nothing regenerated.
	if got := h.metric("pilotlight_xds_generated_resources_total", map[string]string{"type": "cds"}); got != cdsBefore {
		t.Errorf("clusters generated again after an endpoint change: %v -> %v", cdsBefore, got)
	}
	if got := h.metric("pilotlight_xds_pushes_total", map[string]string{"type": "cds", "reason": "endpoints"}); got != 0 {
		t.Errorf("cds pushes for an endpoint change = %v, want 0", got)
	}
}

func TestDeltaRemovesDeletedResources(t *testing.T) {
	h := newHarness(t)
	mesh := modeltest.Mesh{Services: 5, Endpoints: 1}
	h.install(mesh.Build())
	c, _ := deltaSidecar(t, h, sidecarNode("client", "ns-0", "10.200.0.1"))

	// Drop svc-4: its cluster goes (removed_resources), and its endpoints
	// subscription learns the assignment is gone too.
	h.install(modeltest.Mesh{Services: 4, Endpoints: 1}.Build())
	gone := resource.OutboundClusterName(8080, "", modeltest.Hostname("svc-4", "ns-0"))
	seen := map[string]client.Update{}
	// Listeners and routes change too; only clusters and endpoints matter here.
	for len(seen) < 4 {
		u := next(t, c)
		if _, dup := seen[u.TypeURL]; dup {
			t.Fatalf("two %s pushes for one change", u.TypeURL)
		}
		seen[u.TypeURL] = u
		if _, cds := seen[resource.ClusterType]; cds {
			if _, eds := seen[resource.EndpointType]; eds {
				break
			}
		}
	}
	cds, ok := seen[resource.ClusterType]
	if !ok || !slices.Equal(cds.Removed, []string{gone}) || len(cds.Resources) != 0 {
		t.Errorf("clusters: got removed %v and %d resources, want removed [%s] only", cds.Removed, len(cds.Resources), gone)
	}
	eds, ok := seen[resource.EndpointType]
	if !ok || !slices.Equal(eds.Removed, []string{gone}) || len(eds.Resources) != 0 {
		t.Errorf("endpoints: got removed %v and %d resources, want removed [%s] only", eds.Removed, len(eds.Resources), gone)
	}
}

// TestEndpointChangeAtWorkloadAddressRebuildsItsInbound: a workload's
// inbound side comes from the endpoints at its address, so an endpoint
// change there reaches that proxy's clusters, and no one else's.
func TestEndpointChangeAtWorkloadAddressRebuildsItsInbound(t *testing.T) {
	h := newHarness(t)
	mesh := modeltest.Mesh{Services: 5, Endpoints: 2}
	h.install(mesh.Build())
	// xdstest places svc-1's first endpoint at PodIP(2).
	workload := sidecarNode("svc-1-pod", "ns-0", modeltest.PodIP(2))
	other := sidecarNode("bystander", "ns-0", "10.200.0.1")
	wc, _ := deltaSidecar(t, h, workload)
	oc, _ := deltaSidecar(t, h, other)

	// The workload starts serving svc-3 on target port 9090 as well.
	b := mesh.Builder()
	e := modeltest.Endpoint(modeltest.Hostname("svc-3", "ns-0"), "ns-0", modeltest.PodIP(2), 0)
	e.Port = 9090
	b.AddEndpoints(e)
	h.install(b.Build())

	seen := map[string]client.Update{}
	for len(seen) < 3 {
		u := next(t, wc)
		seen[u.TypeURL] = u
	}
	if _, ok := seen[resource.ClusterType].Resources[resource.InboundClusterName(9090)]; !ok {
		t.Errorf("workload's cluster push lacks %s", resource.InboundClusterName(9090))
	}
	if _, ok := seen[resource.ListenerType]; !ok {
		t.Error("workload got no listener push")
	}
	quiet(t, wc, 100*time.Millisecond)

	// The bystander's inbound side is unchanged: endpoints only.
	if u := next(t, oc); u.TypeURL != resource.EndpointType {
		t.Errorf("bystander got a %s push, want endpoints only", u.TypeURL)
	}
	quiet(t, oc, 100*time.Millisecond)
}
