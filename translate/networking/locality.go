package networking

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/pilotlight/pilotlight/translate/eds"
	"github.com/pilotlight/pilotlight/translate/model"
)

// LocalitySetting is the locality load balancing setting that applies
// under a cluster's effective traffic policy (nil: no DestinationRule):
// the policy's own, else the mesh's (which Istio enables by default);
// nil when the one that applies is disabled.
func LocalitySetting(snap *model.Snapshot, p *networkingv1alpha3.TrafficPolicy) *networkingv1alpha3.LocalityLoadBalancerSetting {
	s := p.GetLoadBalancer().GetLocalityLbSetting()
	if s == nil {
		s = snap.Mesh().GetLocalityLbSetting()
	}
	if s == nil || (s.GetEnabled() != nil && !s.GetEnabled().GetValue()) {
		return nil
	}
	return s
}

// LocalityLB is the locality load balancing a client with view v applies
// to one cluster's endpoints. As in Istio, failover (priorities) needs
// outlier detection, without which a client never learns that nearer
// endpoints failed; weights distributed by locality need nothing. In a
// snapshot where no rule balances by locality it is the zero value.
func LocalityLB(snap *model.Snapshot, rule *model.Config, subset string, port uint32, v model.OutboundView) eds.LocalityLB {
	if !snap.LocalityAware() {
		return eds.LocalityLB{}
	}
	var p *networkingv1alpha3.TrafficPolicy
	if rule != nil {
		p = EffectivePolicy(model.AsDestinationRule(rule), subset, port)
	}
	return eds.LocalityLB{
		Setting:        LocalitySetting(snap, p),
		Failover:       p.GetOutlierDetection() != nil,
		ClientLocality: v.Locality,
		ClientLabels:   v.Labels,
	}
}

// ApplyLocalityConfig tells an Envoy cluster to honour locality weights
// when its endpoints come distributed by locality, or ranked by failover
// rules, as istiod does. gRPC always honours them.
func ApplyLocalityConfig(c *clusterv3.Cluster, snap *model.Snapshot, p *networkingv1alpha3.TrafficPolicy) {
	s := LocalitySetting(snap, p)
	failover := p.GetOutlierDetection() != nil && (len(s.GetFailover()) > 0 || len(s.GetFailoverPriority()) > 0)
	if s == nil || c.GetLbPolicy() == clusterv3.Cluster_CLUSTER_PROVIDED || (len(s.GetDistribute()) == 0 && !failover) {
		return
	}
	if c.CommonLbConfig == nil {
		c.CommonLbConfig = &clusterv3.Cluster_CommonLbConfig{}
	}
	c.CommonLbConfig.LocalityConfigSpecifier = &clusterv3.Cluster_CommonLbConfig_LocalityWeightedLbConfig_{
		LocalityWeightedLbConfig: &clusterv3.Cluster_CommonLbConfig_LocalityWeightedLbConfig{},
	}
}
