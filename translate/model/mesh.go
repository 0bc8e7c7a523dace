package model

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	"sigs.k8s.io/yaml"
)

// DefaultMeshConfig returns the mesh settings istiod uses when nothing is
// configured: trust domain cluster.local, ALLOW_ANY outbound, 10 s connect
// timeout, and the default proxy ports and discovery address.
func DefaultMeshConfig() *meshv1alpha1.MeshConfig {
	return &meshv1alpha1.MeshConfig{
		TrustDomain:    "cluster.local",
		RootNamespace:  "istio-system",
		ConnectTimeout: durationpb.New(10 * time.Second),
		OutboundTrafficPolicy: &meshv1alpha1.MeshConfig_OutboundTrafficPolicy{
			Mode: meshv1alpha1.MeshConfig_OutboundTrafficPolicy_ALLOW_ANY,
		},
		DefaultConfig: &meshv1alpha1.ProxyConfig{
			DiscoveryAddress: "istiod.istio-system.svc:15012",
			ProxyAdminPort:   15000,
			StatusPort:       15020,
		},
		DnsRefreshRate: durationpb.New(60 * time.Second),
	}
}

// ParseMeshConfig decodes mesh settings in Istio's MeshConfig YAML (the
// format of ConfigMap istio, key mesh) and lays them over the defaults.
// Unknown fields are an error: a typo in mesh settings should not be
// silently ignored.
func ParseMeshConfig(data []byte) (*meshv1alpha1.MeshConfig, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("mesh config: %w", err)
	}
	user := &meshv1alpha1.MeshConfig{}
	if len(js) > 0 && string(js) != "null" {
		if err := protojson.Unmarshal(js, user); err != nil {
			return nil, fmt.Errorf("mesh config: %w", err)
		}
	}
	mesh := DefaultMeshConfig()
	proto.Merge(mesh, user)
	if mesh.GetTrustDomain() == "" {
		return nil, fmt.Errorf("mesh config: trustDomain must not be empty")
	}
	return mesh, nil
}
