package grpcgen

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"

	"github.com/pilotlight/pilotlight/translate/eds"
	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/resource"
)

func cluster(name string, svc *model.Service, port model.Port) *clusterv3.Cluster {
	c := &clusterv3.Cluster{Name: name, LbPolicy: clusterv3.Cluster_ROUND_ROBIN}
	if svc.Resolution == model.DNSLB {
		// gRPC resolves DNS clusters itself: LOGICAL_DNS with one address.
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_LOGICAL_DNS}
		c.LoadAssignment = &endpointv3.ClusterLoadAssignment{
			ClusterName: name,
			Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{{
				HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
					Address: eds.SocketAddress(svc.ExternalName, port.Number),
				}},
			}}}},
		}
		return c
	}
	// Headless services balance across their pods too: a gRPC client
	// needs no original-destination trick to reach them.
	c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS}
	c.EdsClusterConfig = &clusterv3.Cluster_EdsClusterConfig{EdsConfig: resource.ADS(), ServiceName: name}
	return c
}
