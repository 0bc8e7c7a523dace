package model

import (
	"encoding/json"
	"fmt"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	"sigs.k8s.io/yaml"
)

// DefaultMeshConfig returns the mesh settings istiod uses when nothing is
// configured: trust domain cluster.local, ALLOW_ANY outbound, 10 s connect
// timeout, locality load balancing enabled, and the default proxy ports
// and discovery address.
func DefaultMeshConfig() *meshv1alpha1.MeshConfig {
	return &meshv1alpha1.MeshConfig{
		TrustDomain:    "cluster.local",
		RootNamespace:  "istio-system",
		ConnectTimeout: durationpb.New(10 * time.Second),
		OutboundTrafficPolicy: &meshv1alpha1.MeshConfig_OutboundTrafficPolicy{
			Mode: meshv1alpha1.MeshConfig_OutboundTrafficPolicy_ALLOW_ANY,
		},
		// Locality failover is on wherever outlier detection is.
		LocalityLbSetting: &networkingv1alpha3.LocalityLoadBalancerSetting{Enabled: wrapperspb.Bool(true)},
		DefaultConfig: &meshv1alpha1.ProxyConfig{
			DiscoveryAddress: "istiod.istio-system.svc:15012",
			ProxyAdminPort:   15000,
			StatusPort:       15020,
		},
		DnsRefreshRate: durationpb.New(60 * time.Second),
	}
}

// ParseMeshConfig decodes mesh settings in Istio's MeshConfig YAML (the
// format of ConfigMap istio, key mesh) and lays them over the defaults
// field by field, so that a value the user writes wins even when it is a
// zero value (REGISTRY_ONLY is enum 0). Unknown fields are an error: a typo
// in mesh settings must not be silently ignored.
func ParseMeshConfig(data []byte) (*meshv1alpha1.MeshConfig, error) {
	var user map[string]any
	if err := yaml.Unmarshal(data, &user); err != nil {
		return nil, fmt.Errorf("mesh config: %w", err)
	}
	defaults, err := protojson.Marshal(DefaultMeshConfig())
	if err != nil {
		return nil, fmt.Errorf("mesh config defaults: %w", err)
	}
	var merged map[string]any
	if err := json.Unmarshal(defaults, &merged); err != nil {
		return nil, fmt.Errorf("mesh config defaults: %w", err)
	}
	mergeJSON(merged, user)
	js, err := json.Marshal(merged)
	if err != nil {
		return nil, fmt.Errorf("mesh config: %w", err)
	}
	mesh := &meshv1alpha1.MeshConfig{}
	if err := protojson.Unmarshal(js, mesh); err != nil {
		return nil, fmt.Errorf("mesh config: %w", err)
	}
	if mesh.GetTrustDomain() == "" {
		return nil, fmt.Errorf("mesh config: trustDomain must not be empty")
	}
	return mesh, nil
}

// mergeJSON lays src over dst: objects merge key by key, anything else
// (lists included, as in Istio) replaces.
func mergeJSON(dst, src map[string]any) {
	for k, v := range src {
		if sub, ok := v.(map[string]any); ok {
			if d, ok := dst[k].(map[string]any); ok {
				mergeJSON(d, sub)
				continue
			}
		}
		dst[k] = v
	}
}
