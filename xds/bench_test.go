package xds

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/pilotlight/pilotlight/translate/model/modeltest"
	"github.com/pilotlight/pilotlight/translate/resource"
	"github.com/pilotlight/pilotlight/xds/client"
	"github.com/pilotlight/pilotlight/xds/xdstest"
)

// benchProxies are the fleet sizes the server benchmarks run at: 500 is
// DESIGN.md's comparison load with istiod.
var benchProxies = []int{100, 500}

// forEachFleet runs bench as one sub-benchmark per fleet size.
func forEachFleet(b *testing.B, bench func(b *testing.B, proxies int)) {
	for _, n := range benchProxies {
		b.Run(fmt.Sprintf("proxies=%d", n), func(b *testing.B) { bench(b, n) })
	}
}

var benchMesh = modeltest.Mesh{Services: 1000, Endpoints: 10, Namespaces: 10}

// connectSidecars connects n Envoy-like SotW clients with one view over
// one connection and waits until each holds wildcard CDS and the EDS of
// every outbound cluster. It returns the bytes received per proxy.
func connectSidecars(tb testing.TB, h *harness, conn *grpc.ClientConn, n int, delta bool) ([]*client.Client, int64) {
	clients := make([]*client.Client, n)
	var wg sync.WaitGroup
	for i := range n {
		node := xdstest.Node{Pod: fmt.Sprintf("bench-%d", i), Namespace: "ns-0", IP: "10.200.0.1", ServiceAccount: "default"}
		c, err := client.New(context.Background(), conn, node.Proto(), client.Options{Raw: true, Delta: delta})
		if err != nil {
			tb.Fatal(err)
		}
		clients[i] = c
		wg.Go(func() {
			// Failures are reported with Errorf: FailNow must not run
			// outside the benchmark's goroutine.
			if err := c.Subscribe(resource.ClusterType); err != nil {
				tb.Error(err)
				return
			}
			cds, ok := <-c.Updates()
			if !ok {
				tb.Errorf("stream ended: %v", c.Err())
				return
			}
			var eds []string
			for name := range cds.Raw {
				if strings.HasPrefix(name, "outbound|") {
					eds = append(eds, name)
				}
			}
			if err := c.Subscribe(resource.EndpointType, eds...); err != nil {
				tb.Error(err)
				return
			}
			if u, ok := <-c.Updates(); !ok || len(u.Raw) != len(eds) {
				tb.Errorf("got %d assignments (stream open: %v), want %d", len(u.Raw), ok, len(eds))
			}
		})
	}
	wg.Wait()
	if tb.Failed() {
		tb.FailNow()
	}
	return clients, clients[0].Stats().Bytes
}

// BenchmarkServeClustersAndEndpoints measures a cold start: a fresh
// server with a 1,000-service × 10-endpoint snapshot serving wildcard CDS
// and EDS for every cluster to 100 and 500 proxies with one view.
func BenchmarkServeClustersAndEndpoints(b *testing.B) {
	forEachFleet(b, serveClustersAndEndpoints)
}

func serveClustersAndEndpoints(b *testing.B, proxies int) {
	snap := benchMesh.Build()
	b.ReportAllocs()
	var perProxy int64
	for b.Loop() {
		b.StopTimer()
		h := newHarness(b)
		h.install(snap)
		conn, err := grpc.NewClient(h.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		clients, bytes := connectSidecars(b, h, conn, proxies, false)
		b.StopTimer()
		perProxy = bytes
		if got := h.metric("pilotlight_xds_generated_resources_total", map[string]string{"type": "eds"}); got != 1000 {
			b.Errorf("generated %v assignments, want 1000 (one generation)", got)
		}
		for _, c := range clients {
			c.Close()
		}
		conn.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(perProxy), "bytes/proxy")
}

// BenchmarkEndpointPush measures one endpoint change reaching 100 and 500
// delta proxies that each watch every cluster.
func BenchmarkEndpointPush(b *testing.B) { forEachFleet(b, endpointPush) }

func endpointPush(b *testing.B, proxies int) {
	h := newHarness(b)
	h.install(benchMesh.Build())
	conn, err := grpc.NewClient(h.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	clients, _ := connectSidecars(b, h, conn, proxies, true)
	host := modeltest.Hostname("svc-7", "ns-7")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		b.StopTimer()
		bld := benchMesh.Builder()
		bld.AddEndpoints(modeltest.Endpoint(host, "ns-7", modeltest.PodIP(200000+i), 0))
		h.srv.Update(bld.Build(), nil)
		b.StartTimer()
		for _, c := range clients {
			if u := next(b, c); u.TypeURL != resource.EndpointType || len(u.Raw) != 1 {
				b.Fatalf("got %s with %d resources, want one assignment", u.TypeURL, len(u.Raw))
			}
		}
	}
}

// BenchmarkServicePush measures a new service reaching 100 and 500 delta
// proxies that hold wildcard CDS and every cluster's EDS: a full push.
func BenchmarkServicePush(b *testing.B) { forEachFleet(b, servicePush) }

func servicePush(b *testing.B, proxies int) {
	h := newHarness(b)
	h.install(benchMesh.Build())
	conn, err := grpc.NewClient(h.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	clients, _ := connectSidecars(b, h, conn, proxies, true)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		b.StopTimer()
		bld := benchMesh.Builder()
		extra := modeltest.Mesh{Services: 1}.Build().Services()[0]
		svc := *extra
		svc.Name = fmt.Sprintf("new-%d", i)
		svc.Hostname = modeltest.Hostname(svc.Name, svc.Namespace)
		svc.Addresses = []string{"10.97.0.1"}
		bld.AddService(&svc)
		h.srv.Update(bld.Build(), nil)
		b.StartTimer()
		for _, c := range clients {
			// The new cluster, then its (empty) endpoints are not
			// subscribed: exactly one cluster arrives.
			if u := next(b, c); u.TypeURL != resource.ClusterType || len(u.Raw) != 1 || len(u.Removed) != 1 && i > 1 {
				b.Fatalf("got %s with %d resources, removed %v", u.TypeURL, len(u.Raw), u.Removed)
			}
		}
	}
}
