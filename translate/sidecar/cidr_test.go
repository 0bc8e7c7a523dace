package sidecar

import (
	"testing"

	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/resource"
)

// The Sidecar that applies to a workload overrides the mesh's outbound
// traffic policy, and only it may name an egress proxy.
func TestOutboundFallbackCluster(t *testing.T) {
	policy := func(mode networkingv1alpha3.OutboundTrafficPolicy_Mode, egressPort uint32) *networkingv1alpha3.OutboundTrafficPolicy {
		p := &networkingv1alpha3.OutboundTrafficPolicy{Mode: mode}
		if egressPort != 0 {
			p.EgressProxy = &networkingv1alpha3.Destination{Host: "egress", Subset: "a", Port: &networkingv1alpha3.PortSelector{Number: egressPort}}
		}
		return p
	}
	const (
		allowAny     = networkingv1alpha3.OutboundTrafficPolicy_ALLOW_ANY
		registryOnly = networkingv1alpha3.OutboundTrafficPolicy_REGISTRY_ONLY
	)
	for _, tt := range []struct {
		name         string
		meshRegistry bool
		sidecar      *networkingv1alpha3.OutboundTrafficPolicy // nil: the Sidecar sets none
		want         string
	}{
		{"mesh allows any", false, nil, resource.PassthroughCluster},
		{"mesh registry only", true, nil, resource.BlackHoleCluster},
		{"sidecar registry only", false, policy(registryOnly, 0), resource.BlackHoleCluster},
		{"sidecar allows any", true, policy(allowAny, 0), resource.PassthroughCluster},
		{"egress proxy", true, policy(allowAny, 80), "outbound|80|a|egress.shop.svc.cluster.local"},
		{"egress proxy ignored with registry only", false, policy(registryOnly, 80), resource.BlackHoleCluster},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := model.NewBuilder()
			mesh := model.DefaultMeshConfig()
			if tt.meshRegistry {
				mesh.OutboundTrafficPolicy.Mode = meshv1alpha1.MeshConfig_OutboundTrafficPolicy_REGISTRY_ONLY
			}
			b.SetMesh(mesh)
			b.AddService(&model.Service{Hostname: "web.shop.svc.cluster.local", Name: "web", Namespace: "shop"})
			b.AddConfig(&model.Config{Kind: model.KindSidecar, Namespace: "shop", Name: "selected", Spec: &networkingv1alpha3.Sidecar{
				WorkloadSelector:      &networkingv1alpha3.WorkloadSelector{Labels: map[string]string{"app": "crawler"}},
				OutboundTrafficPolicy: tt.sidecar,
			}})
			snap := b.Build()
			crawler := model.OutboundView{Flavor: model.FlavorSidecar, Namespace: "shop", Labels: map[string]string{"app": "crawler"}}
			if got := outboundFallbackCluster(snap, crawler); got != tt.want {
				t.Errorf("crawler: fallback = %s, want %s", got, tt.want)
			}
			// Workloads the Sidecar does not select keep the mesh's policy.
			other := model.OutboundView{Flavor: model.FlavorSidecar, Namespace: "shop", Labels: map[string]string{"app": "web"}}
			want := resource.PassthroughCluster
			if tt.meshRegistry {
				want = resource.BlackHoleCluster
			}
			if got := outboundFallbackCluster(snap, other); got != want {
				t.Errorf("other workload: fallback = %s, want %s", got, want)
			}
		})
	}
}
