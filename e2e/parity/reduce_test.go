package parity

import (
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/pilotlight/pilotlight/translate/resource"
	"github.com/pilotlight/pilotlight/xds/client"
)

// These tests check the reduction itself, without a cluster: what it
// must ignore, what it must keep, and how allowances judge.

func mustAny(t *testing.T, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// sampleConfig is one HTTP listener on port 9080 with its route table
// and the cluster it routes to, named and labelled after name.
func sampleConfig(t *testing.T, name string, route *routev3.Route, telemetry bool) client.Config {
	t.Helper()
	var filters []*hcmv3.HttpFilter
	if telemetry {
		st, err := structpb.NewStruct(map[string]any{"type_url": "type.googleapis.com/stats.PluginConfig"})
		if err != nil {
			t.Fatal(err)
		}
		filters = append(filters, &hcmv3.HttpFilter{Name: "istio.stats", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(t, st)}})
	}
	filters = append(filters, &hcmv3.HttpFilter{Name: name + ".router", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(t, &routerv3.Router{})}})
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix:  name + "_stats",
		HttpFilters: filters,
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			RouteConfigName: name + "-routes",
		}},
	}
	lis := &listenerv3.Listener{
		Name: name + "-listener",
		Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Address: "0.0.0.0", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 9080},
		}}},
		FilterChains: []*listenerv3.FilterChain{{
			Name:    name + "-chain",
			Filters: []*listenerv3.Filter{{Name: name + ".hcm", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(t, hcm)}}},
		}},
	}
	rc := &routev3.RouteConfiguration{
		Name: name + "-routes",
		VirtualHosts: []*routev3.VirtualHost{{
			Name:    name + "-vhost",
			Domains: []string{"reviews.shop.svc.cluster.local", "reviews.shop.svc.cluster.local:9080"},
			Routes:  []*routev3.Route{route},
		}},
	}
	cl := &clusterv3.Cluster{
		Name:           "outbound|9080||reviews.shop.svc.cluster.local",
		AltStatName:    name + "-stats",
		ConnectTimeout: durationpb.New(10e9),
	}
	return client.Config{Resources: map[string]map[string]proto.Message{
		resource.ListenerType: {lis.GetName(): lis},
		resource.RouteType:    {rc.GetName(): rc},
		resource.ClusterType:  {cl.GetName(): cl},
	}}
}

func weightedRoute(v1, v2 uint32) *routev3.Route {
	return &routev3.Route{
		Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
		Action: &routev3.Route_Route{Route: &routev3.RouteAction{
			ClusterSpecifier: &routev3.RouteAction_WeightedClusters{WeightedClusters: &routev3.WeightedCluster{
				Clusters: []*routev3.WeightedCluster_ClusterWeight{
					{Name: "outbound|9080|v1|reviews.shop.svc.cluster.local", Weight: wrapperspb.UInt32(v1)},
					{Name: "outbound|9080|v2|reviews.shop.svc.cluster.local", Weight: wrapperspb.UInt32(v2)},
				},
			}},
		}},
	}
}

func TestReduceIgnoresNamesStatsAndTelemetry(t *testing.T) {
	a := reduce(sampleConfig(t, "istiod", weightedRoute(90, 10), true))
	b := reduce(sampleConfig(t, "pilotlight", weightedRoute(90, 10), false))
	if d := compare("sidecar", a, b); len(d) != 0 {
		t.Errorf("configurations that differ only in names, stat prefixes and telemetry filters differ:\n%s", report(d))
	}
	if len(a) < 6 {
		t.Errorf("only %d facts from a listener, a route table and a cluster: %v", len(a), a)
	}
}

func TestReduceKeepsWeights(t *testing.T) {
	a := reduce(sampleConfig(t, "x", weightedRoute(90, 10), false))
	b := reduce(sampleConfig(t, "x", weightedRoute(50, 50), false))
	d := compare("sidecar", a, b)
	const want = "R 0.0.0.0:9080 vhost reviews.shop.svc.cluster.local route#0 route .weighted_clusters"
	if len(d) != 1 || d[0].key != want || d[0].kind() != differs {
		t.Errorf("a 90/10 and a 50/50 split: got differences\n%swant exactly one, at %q", report(d), want)
	}
}

func TestNormalizeRouteReadsAlike(t *testing.T) {
	istiodStyle := &routev3.Route{
		Match: &routev3.RouteMatch{
			PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"},
			CaseSensitive: wrapperspb.Bool(true),
			//nolint:staticcheck // The deprecated form is the point.
			Headers: []*routev3.HeaderMatcher{{Name: "end-user", HeaderMatchSpecifier: &routev3.HeaderMatcher_ExactMatch{ExactMatch: "jason"}}},
		},
		Action: &routev3.Route_Route{Route: &routev3.RouteAction{
			ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "c"},
			MaxGrpcTimeout:   durationpb.New(2e9), //nolint:staticcheck // What istiod sends.
			RetryPolicy:      &routev3.RetryPolicy{RetryOn: "gateway-error,5xx", HostSelectionRetryMaxAttempts: 5},
			HashPolicy: []*routev3.RouteAction_HashPolicy{
				{PolicySpecifier: &routev3.RouteAction_HashPolicy_Header_{Header: &routev3.RouteAction_HashPolicy_Header{HeaderName: "x-user"}}},
				{PolicySpecifier: &routev3.RouteAction_HashPolicy_Header_{Header: &routev3.RouteAction_HashPolicy_Header{HeaderName: "x-user"}}},
			},
		}},
	}
	pilotlightStyle := &routev3.Route{
		Match: &routev3.RouteMatch{
			PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"},
			Headers: []*routev3.HeaderMatcher{{Name: "end-user", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{
				StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "jason"}},
			}}},
		},
		Action: &routev3.Route_Route{Route: &routev3.RouteAction{
			ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "c"},
			MaxStreamDuration: &routev3.RouteAction_MaxStreamDuration{
				MaxStreamDuration:    durationpb.New(0),
				GrpcTimeoutHeaderMax: durationpb.New(2e9),
			},
			RetryPolicy: &routev3.RetryPolicy{RetryOn: "5xx,gateway-error"},
			HashPolicy: []*routev3.RouteAction_HashPolicy{
				{PolicySpecifier: &routev3.RouteAction_HashPolicy_Header_{Header: &routev3.RouteAction_HashPolicy_Header{HeaderName: "x-user"}}},
			},
		}},
	}
	a, b := facts{}, facts{}
	routeEntryFacts(a, "r", normalizeRoute(istiodStyle))
	routeEntryFacts(b, "r", normalizeRoute(pilotlightStyle))
	if d := compare("sidecar", a, b); len(d) != 0 {
		t.Errorf("two spellings of one route differ:\n%s", report(d))
	}
	// A real difference survives normalization.
	pilotlightStyle.GetRoute().GetMaxStreamDuration().GrpcTimeoutHeaderMax = durationpb.New(3e9)
	b = facts{}
	routeEntryFacts(b, "r", normalizeRoute(pilotlightStyle))
	if d := compare("sidecar", a, b); len(d) != 1 {
		t.Errorf("a 2s and a 3s gRPC timeout cap: got differences\n%swant one", report(d))
	}
}

func TestJudge(t *testing.T) {
	diffs := []difference{
		{proxy: "sidecar", key: "C outbound|80||a .transport_socket_matches", istiod: "[tls]", pilotlight: absent},
		{proxy: "sidecar", key: "C outbound|80||a .connect_timeout", istiod: "10s", pilotlight: "2s"},
		{proxy: "gateway", key: "C outbound|80||a .transport_socket_matches", istiod: absent, pilotlight: "[tls]"},
	}
	allowances := []allowance{
		{"sidecar", `C \S+ \.transport_socket_matches`, onlyIstiod, "mTLS"},
		{"", `C \S+ \.lb_policy`, anyKind, "matches nothing"},
	}
	j := judge(diffs, allowances)
	if len(j.accepted[0]) != 1 || j.accepted[0][0].key != diffs[0].key {
		t.Errorf("the mTLS allowance accepted %v, want only the sidecar's transport_socket_matches", j.accepted[0])
	}
	if len(j.accepted[1]) != 0 {
		t.Errorf("an allowance for lb_policy accepted %v", j.accepted[1])
	}
	if len(j.unexplained) != 2 {
		t.Errorf("unexplained = %v, want the connect timeout and the gateway's (wrong side) transport_socket_matches", j.unexplained)
	}
}
