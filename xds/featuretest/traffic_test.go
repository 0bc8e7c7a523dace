package featuretest

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// The scenarios of Istio's traffic management guides, with a real grpc-go
// xDS client and backends labelled v1/v2/v3, asserting on traffic.

const reviewsService = `apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: Service
metadata:
  name: reviews
  namespace: shop
spec:
  clusterIP: 10.96.5.1
  selector: {app: reviews}
  ports:
  - name: grpc
    port: 7070
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
  namespace: shop
spec:
  host: reviews
  subsets:
  - name: v1
    labels: {version: v1}
  - name: v2
    labels: {version: v2}
  - name: v3
    labels: {version: v3}
`

// versions starts one backend per version on its own loopback address.
func versions(t *testing.T, ip0 int, vs ...string) []*backend {
	t.Helper()
	var out []*backend
	for i, v := range vs {
		b := startBackend(t, "reviews-"+v, fmt.Sprintf("127.0.1.%d", ip0+i))
		b.version = v
		out = append(out, b)
	}
	return out
}

// meshWith serves the reviews service and backends, and routes with the
// given VirtualService http rules (YAML, indented under http:).
func meshWith(t *testing.T, backends []*backend) (*pilotlight, func(rules string)) {
	t.Helper()
	p := startPilotlight(t, t.TempDir())
	p.write(t, "reviews.yaml", reviewsService)
	p.write(t, "endpoints.yaml", endpointSlices("reviews", "shop", "grpc", backends...))
	return p, func(rules string) {
		p.write(t, "vs.yaml", `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
  namespace: shop
spec:
  hosts: [reviews]
  http:
`+rules)
	}
}

func weights(v1, v2 int) string {
	return fmt.Sprintf(`  - route:
    - destination: {host: reviews, subset: v1}
      weight: %d
    - destination: {host: reviews, subset: v2}
      weight: %d
`, v1, v2)
}

// share is the fraction of n that went to name, in percent.
func share(seen map[string]int, name string, n int) float64 {
	return 100 * float64(seen[name]) / float64(n)
}

func TestCanaryByWeight(t *testing.T) {
	bs := versions(t, 1, "v1", "v2")
	p, route := meshWith(t, bs)
	client := xdsClient(t, p, "shop", "reviews:7070")
	const n = 2000

	for _, split := range [][2]int{{95, 5}, {90, 10}, {50, 50}, {0, 100}} {
		route(weights(split[0], split[1]))
		// The new split is in force once a window of calls looks like it.
		took := eventually(t, fmt.Sprintf("the %d/%d split", split[0], split[1]), func() bool {
			seen := observe(t, client, 200)
			return seen["reviews-v1"]+seen["reviews-v2"] == 200 &&
				math.Abs(share(seen, "reviews-v2", 200)-float64(split[1])) <= 8
		})
		seen := observe(t, client, n)
		got := share(seen, "reviews-v2", n)
		t.Logf("split %d/%d: observed v2 %.1f%% over %d calls (%v); took effect in %v", split[0], split[1], got, n, seen, took)
		if math.Abs(got-float64(split[1])) > 3 || seen["reviews-v1"]+seen["reviews-v2"] != n {
			t.Errorf("split %d/%d: v2 got %.1f%%, want %d ±3 (%v)", split[0], split[1], got, split[1], seen)
		}
	}
}

func TestHeaderRouting(t *testing.T) {
	bs := versions(t, 11, "v1", "v2", "v3")
	p, route := meshWith(t, bs)
	route(`  - match:
    - headers:
        x-canary: {exact: "true"}
    route:
    - destination: {host: reviews, subset: v3}
  - match:
    - headers:
        end-user: {exact: jason}
    route:
    - destination: {host: reviews, subset: v2}
  - match:
    - headers:
        user-agent: {regex: ".*canary-agent.*"}
    route:
    - destination: {host: reviews, subset: v3}
  - route:
    - destination: {host: reviews, subset: v1}
`)
	client := xdsClient(t, p, "shop", "reviews:7070")
	eventually(t, "header routes", func() bool {
		return call(client, metadata.Pairs("x-canary", "true")) == "reviews-v3"
	})
	for _, tc := range []struct {
		md   metadata.MD
		want string
	}{
		{metadata.Pairs("x-canary", "true"), "reviews-v3"},
		{metadata.Pairs("end-user", "jason"), "reviews-v2"},
		{metadata.Pairs("end-user", "mary"), "reviews-v1"},
		{nil, "reviews-v1"},
	} {
		if seen := observeWith(t, client, 50, tc.md); seen[tc.want] != 50 {
			t.Errorf("headers %v: %v, want all on %s", tc.md, seen, tc.want)
		}
	}
	// grpc-go matches routes on the request's metadata; its own
	// transport-level user-agent is not part of it, so the application
	// states it.
	if seen := observeWith(t, client, 50, metadata.Pairs("user-agent", "canary-agent/1.0")); seen["reviews-v3"] != 50 {
		t.Errorf("user-agent canary-agent: %v, want all on v3", seen)
	}
}

func TestFaultInjection(t *testing.T) {
	bs := versions(t, 21, "v1")
	p, route := meshWith(t, bs)
	route(`  - match:
    - headers:
        end-user: {exact: jason}
    fault:
      abort:
        grpcStatus: PERMISSION_DENIED
    route:
    - destination: {host: reviews, subset: v1}
  - match:
    - headers:
        x-chaos: {exact: abort}
    fault:
      abort:
        grpcStatus: UNAVAILABLE
        percentage: {value: 50}
    route:
    - destination: {host: reviews, subset: v1}
  - match:
    - headers:
        x-chaos: {exact: delay}
    fault:
      delay:
        fixedDelay: 0.1s
        percentage: {value: 10}
    route:
    - destination: {host: reviews, subset: v1}
  - route:
    - destination: {host: reviews, subset: v1}
`)
	client := xdsClient(t, p, "shop", "reviews:7070")
	// An abort answers before a cluster is picked, so wait for the routes
	// and for the subset's cluster to be ready.
	eventually(t, "fault routes", func() bool {
		return call(client, metadata.Pairs("end-user", "jason")) == "error: PermissionDenied" &&
			observe(t, client, 20)["reviews-v1"] == 20
	})
	if seen := observeWith(t, client, 100, metadata.Pairs("end-user", "jason")); seen["error: PermissionDenied"] != 100 {
		t.Errorf("matched user: %v, want every call aborted", seen)
	}
	if seen := observe(t, client, 100); seen["reviews-v1"] != 100 {
		t.Errorf("other users: %v, want every call served", seen)
	}

	const n = 2000
	seen := observeWith(t, client, n, metadata.Pairs("x-chaos", "abort"))
	aborted := share(seen, "error: Unavailable", n)
	t.Logf("50%% abort: observed %.1f%% aborted over %d calls", aborted, n)
	if math.Abs(aborted-50) > 5 || seen["reviews-v1"]+seen["error: Unavailable"] != n {
		t.Errorf("50%% abort: %v (%.1f%% aborted), want 50 ±5", seen, aborted)
	}

	const m = 800
	slow := 0
	for range m {
		start := time.Now()
		if got := call(client, metadata.Pairs("x-chaos", "delay")); got != "reviews-v1" {
			t.Fatalf("delayed call failed: %s", got)
		}
		if time.Since(start) >= 90*time.Millisecond {
			slow++
		}
	}
	delayed := 100 * float64(slow) / m
	t.Logf("10%% delay: observed %.1f%% delayed by ≥90ms over %d calls", delayed, m)
	if math.Abs(delayed-10) > 5 {
		t.Errorf("10%% delay: %.1f%% delayed, want 10 ±5", delayed)
	}
}

func TestRetriesAndTimeouts(t *testing.T) {
	bs := versions(t, 31, "v1", "v2")
	// v1 fails every other call with UNAVAILABLE: a retry succeeds.
	var calls atomic.Int64
	bs[0].behave = func(context.Context) error {
		if calls.Add(1)%2 == 1 {
			return status.Error(codes.Unavailable, "flaky")
		}
		return nil
	}
	// v2 takes two seconds.
	bs[1].behave = func(ctx context.Context) error {
		select {
		case <-time.After(2 * time.Second):
		case <-ctx.Done():
		}
		return nil
	}
	p, route := meshWith(t, bs)
	client := xdsClient(t, p, "shop", "reviews:7070")

	route(`  - route:
    - destination: {host: reviews, subset: v1}
    retries:
      attempts: 0
`)
	eventually(t, "route to the flaky backend without retries", func() bool {
		seen := observe(t, client, 20)
		return seen["error: Unavailable"] > 0 && seen["reviews-v1"] > 0
	})

	route(`  - route:
    - destination: {host: reviews, subset: v1}
    retries:
      attempts: 2
      retryOn: unavailable
`)
	eventually(t, "retries to hide the flaky backend", func() bool {
		return observe(t, client, 50)["reviews-v1"] == 50
	})
	if seen := observe(t, client, 200); seen["reviews-v1"] != 200 {
		t.Errorf("with retries: %v, want every call to succeed", seen)
	}

	route(`  - route:
    - destination: {host: reviews, subset: v2}
    timeout: 0.3s
`)
	eventually(t, "the timeout to apply", func() bool {
		start := time.Now()
		got := call(client, nil)
		return got == "error: DeadlineExceeded" && time.Since(start) < 1500*time.Millisecond
	})
}

func TestConsistentHashByHeader(t *testing.T) {
	bs := versions(t, 41, "v1", "v2", "v3")
	p, route := meshWith(t, bs)
	p.write(t, "dr-hash.yaml", `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews-hash
  namespace: default
spec:
  host: reviews.shop.svc.cluster.local
  trafficPolicy:
    loadBalancer:
      consistentHash:
        httpHeaderName: x-user
`)
	route(`  - route:
    - destination: {host: reviews}
`)
	// The client lives in default, so the rule in its own namespace wins.
	client := xdsClient(t, p, "default", "reviews.shop:7070")
	eventually(t, "all three backends", func() bool {
		seen := map[string]int{}
		for i := range 60 {
			seen[call(client, metadata.Pairs("x-user", fmt.Sprintf("user-%d", i)))]++
		}
		return len(seen) == 3
	})
	for _, user := range []string{"alice", "bob", "carol", "dave"} {
		if seen := observeWith(t, client, 50, metadata.Pairs("x-user", user)); len(seen) != 1 {
			t.Errorf("user %s spread over %v, want one backend", user, seen)
		}
	}
}

func TestCircuitBreakerRejectsOverflow(t *testing.T) {
	bs := versions(t, 51, "v1")
	release := make(chan struct{})
	var inFlight atomic.Int64
	bs[0].behave = func(ctx context.Context) error {
		inFlight.Add(1)
		defer inFlight.Add(-1)
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	}
	p, route := meshWith(t, bs)
	p.write(t, "dr-cb.yaml", `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
  namespace: shop
spec:
  host: reviews
  trafficPolicy:
    connectionPool:
      http:
        http2MaxRequests: 2
  subsets:
  - name: v1
    labels: {version: v1}
`)
	route(`  - route:
    - destination: {host: reviews, subset: v1}
`)
	client := xdsClient(t, p, "shop", "reviews:7070")
	// Warm up: the route and cluster are in place once a call gets through.
	close(release)
	eventually(t, "the route", func() bool { return call(client, nil) == "reviews-v1" })
	release = make(chan struct{})

	var wg sync.WaitGroup
	results := make(chan string, 10)
	for range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); results <- call(client, nil) }()
	}
	eventually(t, "two calls in flight", func() bool { return inFlight.Load() == 2 })
	overflow := observe(t, client, 5)
	close(release)
	wg.Wait()
	close(results)
	if overflow["error: Unavailable"] != 5 {
		t.Errorf("calls beyond http2MaxRequests=2: %v, want all rejected with Unavailable", overflow)
	}
	for r := range results {
		if r != "reviews-v1" {
			t.Errorf("an admitted call failed: %s", r)
		}
	}
}
