package networking

import (
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
)

func simple(lb networkingv1alpha3.LoadBalancerSettings_SimpleLB) *networkingv1alpha3.LoadBalancerSettings {
	return &networkingv1alpha3.LoadBalancerSettings{LbPolicy: &networkingv1alpha3.LoadBalancerSettings_Simple{Simple: lb}}
}

// Istio layers a rule's policies: top level, replaced wholesale by its
// port level; the subset's overriding what it sets; the subset's port
// level replacing wholesale again.
func TestEffectivePolicyLayers(t *testing.T) {
	pool := &networkingv1alpha3.ConnectionPoolSettings{Tcp: &networkingv1alpha3.ConnectionPoolSettings_TCPSettings{MaxConnections: 7}}
	dr := &networkingv1alpha3.DestinationRule{
		TrafficPolicy: &networkingv1alpha3.TrafficPolicy{
			LoadBalancer:   simple(networkingv1alpha3.LoadBalancerSettings_RANDOM),
			ConnectionPool: pool,
			PortLevelSettings: []*networkingv1alpha3.TrafficPolicy_PortTrafficPolicy{{
				Port:         &networkingv1alpha3.PortSelector{Number: 9080},
				LoadBalancer: simple(networkingv1alpha3.LoadBalancerSettings_ROUND_ROBIN),
			}},
		},
		Subsets: []*networkingv1alpha3.Subset{{
			Name: "v2",
			TrafficPolicy: &networkingv1alpha3.TrafficPolicy{
				LoadBalancer: simple(networkingv1alpha3.LoadBalancerSettings_LEAST_REQUEST),
				PortLevelSettings: []*networkingv1alpha3.TrafficPolicy_PortTrafficPolicy{{
					Port:             &networkingv1alpha3.PortSelector{Number: 9080},
					OutlierDetection: &networkingv1alpha3.OutlierDetection{MaxEjectionPercent: 30},
				}},
			},
		}},
	}
	for _, tc := range []struct {
		subset  string
		port    uint32
		lb      networkingv1alpha3.LoadBalancerSettings_SimpleLB
		outlier bool
		// pool: the top-level connection pool survives (no port-level
		// policy replaced it).
		pool bool
	}{
		{"", 80, networkingv1alpha3.LoadBalancerSettings_RANDOM, false, true},
		{"", 9080, networkingv1alpha3.LoadBalancerSettings_ROUND_ROBIN, false, false},
		{"v2", 80, networkingv1alpha3.LoadBalancerSettings_LEAST_REQUEST, false, true},
		{"v2", 9080, networkingv1alpha3.LoadBalancerSettings_UNSPECIFIED, true, false},
		{"v9", 9080, networkingv1alpha3.LoadBalancerSettings_ROUND_ROBIN, false, false},
	} {
		p := EffectivePolicy(dr, tc.subset, tc.port)
		if got := p.GetLoadBalancer().GetSimple(); got != tc.lb {
			t.Errorf("subset %q port %d: load balancer %v, want %v", tc.subset, tc.port, got, tc.lb)
		}
		if got := p.GetOutlierDetection() != nil; got != tc.outlier {
			t.Errorf("subset %q port %d: outlier detection %v, want %v", tc.subset, tc.port, got, tc.outlier)
		}
		if (p.GetConnectionPool() == pool) != tc.pool {
			t.Errorf("subset %q port %d: top-level connection pool kept = %v, want %v", tc.subset, tc.port, p.GetConnectionPool() == pool, tc.pool)
		}
	}
}

// gRPC reads only max_requests and no consecutive-error ejection; Envoy
// gets every limit.
func TestApplyPolicyPerTarget(t *testing.T) {
	p := &networkingv1alpha3.TrafficPolicy{
		ConnectionPool: &networkingv1alpha3.ConnectionPoolSettings{
			Tcp:  &networkingv1alpha3.ConnectionPoolSettings_TCPSettings{MaxConnections: 10, ConnectTimeout: durationpb.New(3e9)},
			Http: &networkingv1alpha3.ConnectionPoolSettings_HTTPSettings{Http2MaxRequests: 20, Http1MaxPendingRequests: 5},
		},
		OutlierDetection: &networkingv1alpha3.OutlierDetection{MaxEjectionPercent: 50},
	}
	envoy, grpc := &clusterv3.Cluster{}, &clusterv3.Cluster{}
	ApplyPolicy(envoy, p, Envoy)
	ApplyPolicy(grpc, p, GRPC)
	th := envoy.GetCircuitBreakers().GetThresholds()[0]
	if th.GetMaxConnections().GetValue() != 10 || th.GetMaxRequests().GetValue() != 20 || th.GetMaxPendingRequests().GetValue() != 5 ||
		envoy.GetConnectTimeout().AsDuration() != 3e9 || envoy.GetOutlierDetection() == nil {
		t.Errorf("Envoy cluster: %v", envoy)
	}
	gth := grpc.GetCircuitBreakers().GetThresholds()[0]
	if gth.GetMaxRequests().GetValue() != 20 || gth.GetMaxConnections() != nil || grpc.GetOutlierDetection() != nil || grpc.GetConnectTimeout() != nil {
		t.Errorf("gRPC cluster: %v", grpc)
	}
}

// gRPC retries only on gRPC status conditions; Istio's bare status codes
// become retriable-status-codes for Envoy.
func TestRetriesPerTarget(t *testing.T) {
	r := &networkingv1alpha3.HTTPRetry{Attempts: 3, RetryOn: "5xx,unavailable, 503 ,cancelled", PerTryTimeout: durationpb.New(1e9)}
	envoy, grpc := &routev3.RouteAction{}, &routev3.RouteAction{}
	setRetries(envoy, r, Envoy, false)
	setRetries(grpc, r, GRPC, false)
	if got := envoy.GetRetryPolicy().GetRetryOn(); got != "5xx,unavailable,retriable-status-codes,cancelled" {
		t.Errorf("Envoy retry_on = %q", got)
	}
	if diff := cmp.Diff([]uint32{503}, envoy.GetRetryPolicy().GetRetriableStatusCodes()); diff != "" {
		t.Errorf("retriable codes:\n%s", diff)
	}
	want := &routev3.RetryPolicy{RetryOn: "unavailable,cancelled", NumRetries: grpc.GetRetryPolicy().GetNumRetries()}
	if diff := cmp.Diff(want, grpc.GetRetryPolicy(), protocmp.Transform()); diff != "" || grpc.GetRetryPolicy().GetNumRetries().GetValue() != 3 {
		t.Errorf("gRPC retry policy (-want +got):\n%s", diff)
	}
	none := &routev3.RouteAction{}
	setRetries(none, &networkingv1alpha3.HTTPRetry{Attempts: 0}, Envoy, false)
	if none.GetRetryPolicy() != nil {
		t.Error("attempts 0 must disable retries")
	}
}

func TestGRPCStatusCode(t *testing.T) {
	for in, want := range map[string]uint32{"UNAVAILABLE": 14, "unavailable": 14, "PERMISSION_DENIED": 7, "4": 4, "bogus": 2} {
		if got := grpcStatusCode(in); got != want {
			t.Errorf("grpcStatusCode(%q) = %d, want %d", in, got, want)
		}
	}
}
