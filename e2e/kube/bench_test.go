package kube

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pilotlight/pilotlight/e2e/framework/cluster"
	"github.com/pilotlight/pilotlight/e2e/framework/netns"
	"github.com/pilotlight/pilotlight/e2e/framework/wait"
	"github.com/pilotlight/pilotlight/translate/resource"
	"github.com/pilotlight/pilotlight/xds/client"
	"github.com/pilotlight/pilotlight/xds/xdstest"
)

// The benchmark mesh: DESIGN.md's reference load.
const (
	benchNamespaces = 10
	benchServices   = 1000
	benchEndpoints  = 10 // per Service
	// benchTimeout bounds each wait for a complete config, far above the
	// figures measured here (tens of seconds at worst on two busy cores).
	benchTimeout = 10 * time.Minute
)

// BenchmarkFirstConfig measures pilotlight against a real API server
// holding 1,000 Services with 10 endpoints each (selector-less Services
// and hand-written EndpointSlices, addresses in netns.FakeRange, which
// nothing connects to), as seen by an Envoy-like sidecar proxy using
// pilotlight's own delta ADS client:
//
//   - create-to-config: from the first create at the API server to the
//     proxy, connected beforehand, holding every cluster, endpoint and
//     route;
//   - ns/op: from starting pilotlight on the full cluster to a proxy's
//     first complete config (informer sync included);
//   - peak-RSS-MiB: pilotlight's peak resident memory (VmHWM) by then.
//
// Run it with -run '^$' -bench FirstConfig -benchtime 1x: one iteration
// takes about a minute.
func BenchmarkFirstConfig(b *testing.B) {
	l, bins := binaries(b)
	c := cluster.Start(b, bins, cluster.Options{})
	e := &env{layout: l, bins: bins, cluster: c}
	cp := e.startPilotlight(b)

	// A proxy is connected before anything exists.
	first := dialProxy(b, cp)
	start := time.Now()
	createBenchMesh(b, c)
	created := time.Since(start)
	if err := waitComplete(first); err != nil {
		b.Fatalf("proxy connected before the mesh was created: %v", err)
	}
	createToConfig := time.Since(start)
	b.Logf("created %d Services and %d endpoints in %v; complete config at a connected proxy %v after the first create",
		benchServices, benchServices*benchEndpoints, created.Round(time.Millisecond), createToConfig.Round(time.Millisecond))
	first.Close()

	var peak int64
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		cp.Process().Stop()
		b.StartTimer()
		started := time.Now()
		cp.Restart(b)
		proxy := dialProxyWhenServed(b, cp)
		if err := waitComplete(proxy); err != nil {
			b.Fatalf("proxy after a restart: %v", err)
		}
		b.StopTimer()
		rss, err := cp.PeakRSS()
		if err != nil {
			b.Fatal(err)
		}
		peak = max(peak, rss)
		st := proxy.Stats()
		b.Logf("restarted pilotlight: complete config at a proxy %v after start (%d responses, %.1f MiB); peak RSS %.1f MiB",
			time.Since(started).Round(time.Millisecond), st.Responses, float64(st.Bytes)/(1<<20), float64(rss)/(1<<20))
		proxy.Close()
		b.StartTimer()
	}
	// Reported after the loop: ResetTimer drops metrics reported before.
	b.ReportMetric(createToConfig.Seconds(), "s-create-to-config")
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
}

// createBenchMesh creates the Services and their EndpointSlices with a
// few concurrent writers, as a busy cluster's controllers would.
func createBenchMesh(b *testing.B, c *cluster.Cluster) {
	b.Helper()
	for n := range benchNamespaces {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		_, err := c.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: benchNamespace(n)}}, metav1.CreateOptions{})
		cancel()
		if err != nil {
			b.Fatal(err)
		}
	}
	const writers = 8
	work := make(chan int)
	errs := make(chan error, writers)
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for i := range work {
				if err := createBenchService(c, i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for i := range benchServices {
		select {
		case work <- i:
		case err := <-errs:
			close(work)
			wg.Wait()
			b.Fatal(err)
		}
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
}

func benchNamespace(n int) string { return fmt.Sprintf("bench-%d", n) }

// createBenchService creates Service i without a selector and one
// EndpointSlice for it holding benchEndpoints ready addresses.
func createBenchService(c *cluster.Cluster, i int) error {
	ns, name := benchNamespace(i%benchNamespaces), fmt.Sprintf("svc-%d", i)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := c.Kube.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{
			Name: "grpc", Port: 8080, Protocol: corev1.ProtocolTCP,
		}}},
	}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: name + "-1",
			Labels: map[string]string{discoveryv1.LabelServiceName: name, discoveryv1.LabelManagedBy: "pilotlight-e2e"},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: new("grpc"), Port: new(int32(8080)), Protocol: new(corev1.ProtocolTCP)}},
	}
	for j := range benchEndpoints {
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{fakeAddr(i*benchEndpoints + j).String()},
			Conditions: discoveryv1.EndpointConditions{Ready: new(true)},
		})
	}
	_, err = c.Kube.DiscoveryV1().EndpointSlices(ns).Create(ctx, slice, metav1.CreateOptions{})
	return err
}

// fakeAddr is the n-th address of netns.FakeRange.
func fakeAddr(n int) netip.Addr {
	a := netns.FakeRange.Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3]) + uint32(n)
	addr := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	if !netns.FakeRange.Contains(addr) {
		panic("benchmark mesh outgrows " + netns.FakeRange.String())
	}
	return addr
}

// benchProxy is the node of the measured proxy: an istio-agent sidecar in
// one of the benchmark's namespaces, which sees every Service.
func benchProxy() xdstest.Node {
	return xdstest.Node{Pod: "proxy", Namespace: benchNamespace(0), IP: netns.FakeRange.Addr().Next().String()}
}

// dialProxy opens the proxy's delta ADS stream and subscribes as Envoy
// does at start: every cluster and every listener.
func dialProxy(b *testing.B, cp *controlPlane) *client.Client {
	b.Helper()
	c, err := openProxy(cp)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

func openProxy(cp *controlPlane) (*client.Client, error) {
	c, err := client.Dial(context.Background(), cp.GRPCAddr, benchProxy().Proto(), client.Options{Delta: true, Buffer: 1024})
	if err != nil {
		return nil, err
	}
	for _, typ := range []string{resource.ClusterType, resource.ListenerType} {
		if err := c.Subscribe(typ); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// dialProxyWhenServed connects the proxy to a pilotlight that has just
// started, reconnecting while it does not listen yet or refuses streams
// before its first sync, as Envoy's backoff would (but faster, so that the
// figure measures pilotlight).
func dialProxyWhenServed(b *testing.B, cp *controlPlane) *client.Client {
	b.Helper()
	var c *client.Client
	wait.For(b, benchTimeout, "a stream that pilotlight serves", func() error {
		var err error
		if c, err = openProxy(cp); err != nil {
			return err
		}
		select {
		case <-c.Done():
			err := c.Err()
			c.Close()
			if code := status.Code(err); code != codes.Unavailable {
				return fmt.Errorf("stream ended with %v, want Unavailable before sync", err)
			}
			return err
		case <-time.After(200 * time.Millisecond):
			// Not refused: served, or about to be.
			return nil
		}
	})
	b.Cleanup(func() { c.Close() })
	return c
}

// waitComplete reads the proxy's updates, subscribing as Envoy does to
// the endpoints of every EDS cluster and the routes of every listener it
// is sent, until it holds an outbound cluster for every benchmark Service,
// benchEndpoints endpoints for each, and every route configuration its
// listeners name.
func waitComplete(c *client.Client) error {
	timeout := time.After(benchTimeout)
	clusters := map[string]string{} // benchmark cluster → its EDS name
	endpoints := map[string]int{}   // EDS name → endpoints received
	routes := map[string]bool{}     // route name → received
	for {
		complete := len(clusters) >= benchServices
		for _, eds := range clusters {
			if endpoints[eds] != benchEndpoints {
				complete = false
				break
			}
		}
		for _, got := range routes {
			complete = complete && got
		}
		if complete {
			return nil
		}
		var u client.Update
		select {
		case got, ok := <-c.Updates():
			if !ok {
				return fmt.Errorf("stream ended: %w", c.Err())
			}
			u = got
		case <-timeout:
			return fmt.Errorf("after %v: %d of %d clusters, %d with all endpoints", benchTimeout, len(clusters), benchServices, countFull(clusters, endpoints))
		}
		if u.Rejected != nil {
			return fmt.Errorf("the proxy rejected %s: %w", u.TypeURL, u.Rejected)
		}
		switch u.TypeURL {
		case resource.ClusterType:
			var subscribe []string
			for name, m := range u.Resources {
				cl, ok := m.(*clusterv3.Cluster)
				if !ok || !isBenchCluster(name) || cl.GetType() != clusterv3.Cluster_EDS {
					continue
				}
				eds := cl.GetEdsClusterConfig().GetServiceName()
				if eds == "" {
					eds = name
				}
				if _, seen := clusters[name]; !seen {
					subscribe = append(subscribe, eds)
				}
				clusters[name] = eds
			}
			if len(subscribe) > 0 {
				if err := c.Subscribe(resource.EndpointType, subscribe...); err != nil {
					return err
				}
			}
		case resource.ListenerType:
			var subscribe []string
			for _, m := range u.Resources {
				l, ok := m.(*listenerv3.Listener)
				if !ok {
					continue
				}
				for _, name := range routeNames(l) {
					if _, seen := routes[name]; !seen {
						routes[name] = false
						subscribe = append(subscribe, name)
					}
				}
			}
			if len(subscribe) > 0 {
				if err := c.Subscribe(resource.RouteType, subscribe...); err != nil {
					return err
				}
			}
		case resource.RouteType:
			for name := range u.Resources {
				routes[name] = true
			}
		case resource.EndpointType:
			for name, m := range u.Resources {
				cla, ok := m.(*endpointv3.ClusterLoadAssignment)
				if !ok {
					return errors.New("EDS resource " + name + " is not a ClusterLoadAssignment")
				}
				n := 0
				for _, l := range cla.GetEndpoints() {
					n += len(l.GetLbEndpoints())
				}
				endpoints[name] = n
			}
		}
	}
}

// routeNames lists the route configurations a listener's HTTP connection
// managers fetch over RDS.
func routeNames(l *listenerv3.Listener) []string {
	var names []string
	chains := append([]*listenerv3.FilterChain{l.GetDefaultFilterChain()}, l.GetFilterChains()...)
	for _, fc := range chains {
		for _, f := range fc.GetFilters() {
			hcm := &hcmv3.HttpConnectionManager{}
			if f.GetTypedConfig().MessageIs(hcm) && f.GetTypedConfig().UnmarshalTo(hcm) == nil {
				if name := hcm.GetRds().GetRouteConfigName(); name != "" {
					names = append(names, name)
				}
			}
		}
	}
	return names
}

// isBenchCluster reports whether an outbound cluster belongs to a
// benchmark Service (the cluster has others, such as kubernetes.default).
func isBenchCluster(name string) bool {
	return strings.HasPrefix(name, "outbound|") && strings.Contains(name, ".bench-")
}

func countFull(clusters map[string]string, endpoints map[string]int) int {
	n := 0
	for _, eds := range clusters {
		if endpoints[eds] == benchEndpoints {
			n++
		}
	}
	return n
}
