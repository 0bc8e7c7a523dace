package networking

import (
	"math"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/pilotlight/pilotlight/translate/resource"
)

// EffectivePolicy merges a DestinationRule's policies for one cluster the
// way Istio does: the rule's top-level policy; a port-level policy for the
// port replaces it wholesale (a field group it leaves out falls back to
// the default, not to the top level); then the subset's policy overrides
// field group by field group (load balancer, connection pool, outlier
// detection, TLS), and the subset's own port-level policy again replaces
// wholesale.
func EffectivePolicy(dr *networkingv1alpha3.DestinationRule, subset string, port uint32) *networkingv1alpha3.TrafficPolicy {
	out := &networkingv1alpha3.TrafficPolicy{}
	layer := func(p *networkingv1alpha3.TrafficPolicy) {
		if p == nil {
			return
		}
		mergeGroups(out, p.GetLoadBalancer(), p.GetConnectionPool(), p.GetOutlierDetection(), p.GetTls())
		for _, pl := range p.GetPortLevelSettings() {
			if pl.GetPort().GetNumber() == port {
				*out = networkingv1alpha3.TrafficPolicy{}
				mergeGroups(out, pl.GetLoadBalancer(), pl.GetConnectionPool(), pl.GetOutlierDetection(), pl.GetTls())
			}
		}
	}
	layer(dr.GetTrafficPolicy())
	if subset != "" {
		for _, s := range dr.GetSubsets() {
			if s.GetName() == subset {
				layer(s.GetTrafficPolicy())
			}
		}
	}
	return out
}

func mergeGroups(out *networkingv1alpha3.TrafficPolicy, lb *networkingv1alpha3.LoadBalancerSettings,
	cp *networkingv1alpha3.ConnectionPoolSettings, od *networkingv1alpha3.OutlierDetection, tls *networkingv1alpha3.ClientTLSSettings) {
	if lb != nil {
		out.LoadBalancer = lb
	}
	if cp != nil {
		out.ConnectionPool = cp
	}
	if od != nil {
		out.OutlierDetection = od
	}
	if tls != nil {
		out.Tls = tls
	}
}

// ApplyPolicy sets a cluster's load balancer, circuit breakers, connection
// settings and outlier detection from a traffic policy. Its TLS settings
// are ApplyUpstreamTLS's.
func ApplyPolicy(c *clusterv3.Cluster, p *networkingv1alpha3.TrafficPolicy, t Target) {
	applyLoadBalancer(c, p.GetLoadBalancer(), t)
	applyConnectionPool(c, p.GetConnectionPool(), t)
	if t == Envoy {
		// gRPC implements only success-rate and failure-percentage
		// ejection (gRFC A50), which Istio's API cannot express
		// (Analyze: unsupported-for-grpc).
		applyOutlierDetection(c, p.GetOutlierDetection())
	}
}

func applyLoadBalancer(c *clusterv3.Cluster, lb *networkingv1alpha3.LoadBalancerSettings, t Target) {
	if lb == nil {
		return
	}
	switch lb.GetLbPolicy().(type) {
	case *networkingv1alpha3.LoadBalancerSettings_Simple:
		switch lb.GetSimple() {
		case networkingv1alpha3.LoadBalancerSettings_ROUND_ROBIN:
			c.LbPolicy = clusterv3.Cluster_ROUND_ROBIN
		case networkingv1alpha3.LoadBalancerSettings_LEAST_REQUEST, networkingv1alpha3.LoadBalancerSettings_LEAST_CONN: //nolint:staticcheck // Istio still accepts the deprecated field; users rely on it.
			c.LbPolicy = clusterv3.Cluster_LEAST_REQUEST
		case networkingv1alpha3.LoadBalancerSettings_RANDOM:
			if t == Envoy {
				c.LbPolicy = clusterv3.Cluster_RANDOM
			}
		case networkingv1alpha3.LoadBalancerSettings_PASSTHROUGH:
			if t == Envoy {
				c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_ORIGINAL_DST}
				c.LbPolicy = clusterv3.Cluster_CLUSTER_PROVIDED
				c.EdsClusterConfig = nil
			}
		}
	case *networkingv1alpha3.LoadBalancerSettings_ConsistentHash:
		ch := lb.GetConsistentHash()
		if ch.GetMaglev() != nil && t == Envoy {
			c.LbPolicy = clusterv3.Cluster_MAGLEV
			if size := ch.GetMaglev().GetTableSize(); size > 0 {
				c.LbConfig = &clusterv3.Cluster_MaglevLbConfig_{MaglevLbConfig: &clusterv3.Cluster_MaglevLbConfig{TableSize: wrapperspb.UInt64(size)}}
			}
			return
		}
		c.LbPolicy = clusterv3.Cluster_RING_HASH
		size := ch.GetRingHash().GetMinimumRingSize() //nolint:staticcheck // Istio still accepts the deprecated field; users rely on it.
		if size == 0 {
			size = ch.GetMinimumRingSize() //nolint:staticcheck // Istio still accepts the deprecated field; users rely on it.
		}
		if size == 0 {
			size = 1024 // Istio's default.
		}
		c.LbConfig = &clusterv3.Cluster_RingHashLbConfig_{RingHashLbConfig: &clusterv3.Cluster_RingHashLbConfig{
			MinimumRingSize: wrapperspb.UInt64(size),
		}}
	}
}

func applyConnectionPool(c *clusterv3.Cluster, cp *networkingv1alpha3.ConnectionPoolSettings, t Target) {
	if cp == nil {
		return
	}
	th := c.GetCircuitBreakers().GetThresholds()
	if len(th) == 0 {
		c.CircuitBreakers = &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{{}}}
		th = c.CircuitBreakers.Thresholds
	}
	limit := func(v int32) *wrapperspb.UInt32Value {
		if v <= 0 {
			return wrapperspb.UInt32(math.MaxUint32)
		}
		return wrapperspb.UInt32(uint32(v))
	}
	tcp, http := cp.GetTcp(), cp.GetHttp()
	if t == GRPC {
		// gRPC reads only max_requests (gRFC A32): http2MaxRequests.
		if http.GetHttp2MaxRequests() > 0 {
			th[0].MaxRequests = limit(http.GetHttp2MaxRequests())
		}
		return
	}
	if tcp.GetMaxConnections() > 0 {
		th[0].MaxConnections = limit(tcp.GetMaxConnections())
	}
	if http.GetHttp1MaxPendingRequests() > 0 {
		th[0].MaxPendingRequests = limit(http.GetHttp1MaxPendingRequests())
	}
	if http.GetHttp2MaxRequests() > 0 {
		th[0].MaxRequests = limit(http.GetHttp2MaxRequests())
	}
	if http.GetMaxRetries() > 0 {
		th[0].MaxRetries = limit(http.GetMaxRetries())
	}
	if ct := tcp.GetConnectTimeout(); ct != nil {
		c.ConnectTimeout = ct
	}
	if ka := tcp.GetTcpKeepalive(); ka != nil {
		k := &corev3.TcpKeepalive{}
		if ka.GetProbes() > 0 {
			k.KeepaliveProbes = wrapperspb.UInt32(ka.GetProbes())
		}
		if ka.GetTime() != nil {
			k.KeepaliveTime = wrapperspb.UInt32(uint32(ka.GetTime().AsDuration() / time.Second))
		}
		if ka.GetInterval() != nil {
			k.KeepaliveInterval = wrapperspb.UInt32(uint32(ka.GetInterval().AsDuration() / time.Second))
		}
		c.UpstreamConnectionOptions = &clusterv3.UpstreamConnectionOptions{TcpKeepalive: k}
	}
	common := &corev3.HttpProtocolOptions{}
	if http.GetIdleTimeout() != nil {
		common.IdleTimeout = http.GetIdleTimeout()
	}
	if n := http.GetMaxRequestsPerConnection(); n > 0 {
		common.MaxRequestsPerConnection = wrapperspb.UInt32(uint32(n))
	}
	if d := tcp.GetMaxConnectionDuration(); d != nil {
		common.MaxConnectionDuration = d
	}
	if proto.Size(common) > 0 || http.GetH2UpgradePolicy() == networkingv1alpha3.ConnectionPoolSettings_HTTPSettings_UPGRADE {
		opts := upstreamOptions(c)
		opts.CommonHttpProtocolOptions = common
		if http.GetH2UpgradePolicy() == networkingv1alpha3.ConnectionPoolSettings_HTTPSettings_UPGRADE {
			if _, h1 := opts.GetExplicitHttpConfig().GetProtocolConfig().(*httpv3.HttpProtocolOptions_ExplicitHttpConfig_HttpProtocolOptions); h1 {
				opts.UpstreamProtocolOptions = &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
					ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{}},
				}}
			}
		}
		setUpstreamOptions(c, opts)
	}
}

// applyOutlierDetection follows Istio: consecutive 5xx and gateway errors
// eject with the given enforcement, success-rate ejection stays off, and
// minHealthPercent becomes the panic threshold.
func applyOutlierDetection(c *clusterv3.Cluster, od *networkingv1alpha3.OutlierDetection) {
	if od == nil {
		return
	}
	out := &clusterv3.OutlierDetection{
		EnforcingSuccessRate: wrapperspb.UInt32(0),
		Interval:             od.GetInterval(),
		BaseEjectionTime:     od.GetBaseEjectionTime(),
	}
	if od.GetMaxEjectionPercent() > 0 {
		out.MaxEjectionPercent = wrapperspb.UInt32(uint32(od.GetMaxEjectionPercent()))
	}
	consecutive5xx := od.GetConsecutive_5XxErrors()
	// The deprecated consecutiveErrors means consecutive 5xx.
	if consecutive5xx == nil && od.GetConsecutiveErrors() > 0 { //nolint:staticcheck // Istio still accepts the deprecated field; users rely on it.
		consecutive5xx = wrapperspb.UInt32(uint32(od.GetConsecutiveErrors())) //nolint:staticcheck // Istio still accepts the deprecated field; users rely on it.
	}
	// Left unset, Envoy's default applies (eject after 5 consecutive 5xx),
	// which is also what Istio documents as the default.
	if v := consecutive5xx; v != nil {
		out.Consecutive_5Xx = wrapperspb.UInt32(v.GetValue())
		out.EnforcingConsecutive_5Xx = wrapperspb.UInt32(enforcing(v.GetValue()))
	}
	if v := od.GetConsecutiveGatewayErrors(); v != nil {
		out.ConsecutiveGatewayFailure = wrapperspb.UInt32(v.GetValue())
		out.EnforcingConsecutiveGatewayFailure = wrapperspb.UInt32(enforcing(v.GetValue()))
	}
	if od.GetSplitExternalLocalOriginErrors() {
		out.SplitExternalLocalOriginErrors = true
		if v := od.GetConsecutiveLocalOriginFailures(); v != nil {
			out.ConsecutiveLocalOriginFailure = wrapperspb.UInt32(v.GetValue())
			out.EnforcingConsecutiveLocalOriginFailure = wrapperspb.UInt32(enforcing(v.GetValue()))
		}
	}
	c.OutlierDetection = out
	c.CommonLbConfig = &clusterv3.Cluster_CommonLbConfig{HealthyPanicThreshold: &typev3.Percent{Value: float64(od.GetMinHealthPercent())}}
}

// enforcing: a threshold of 0 disables that kind of ejection.
func enforcing(v uint32) uint32 {
	if v == 0 {
		return 0
	}
	return 100
}

const httpProtocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

func upstreamOptions(c *clusterv3.Cluster) *httpv3.HttpProtocolOptions {
	opts := &httpv3.HttpProtocolOptions{}
	if a := c.GetTypedExtensionProtocolOptions()[httpProtocolOptionsKey]; a != nil {
		_ = a.UnmarshalTo(opts)
	}
	if opts.UpstreamProtocolOptions == nil {
		opts.UpstreamProtocolOptions = &httpv3.HttpProtocolOptions_UseDownstreamProtocolConfig{
			UseDownstreamProtocolConfig: &httpv3.HttpProtocolOptions_UseDownstreamHttpConfig{},
		}
	}
	return opts
}

func setUpstreamOptions(c *clusterv3.Cluster, opts *httpv3.HttpProtocolOptions) {
	if c.TypedExtensionProtocolOptions == nil {
		c.TypedExtensionProtocolOptions = map[string]*anypb.Any{}
	}
	c.TypedExtensionProtocolOptions[httpProtocolOptionsKey] = resource.Any(opts)
}
