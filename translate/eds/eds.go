// Package eds builds ClusterLoadAssignments from the model's endpoints. It
// is shared by every generator: Envoy and gRPC read EDS the same way, as
// long as every locality carries a weight (gRPC ignores unweighted ones).
package eds

import (
	"slices"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/security/mtls"
)

// LoadAssignment returns the endpoints of one service port as a
// ClusterLoadAssignment named clusterName. Only healthy endpoints are sent,
// as istiod does by default: an endpoint that is not ready, or is
// terminating, must not receive new requests. Endpoints are grouped by
// locality; each locality's weight is the sum of its endpoints' weights,
// so a locality with more capacity gets proportionally more traffic.
//
// A non-empty subset keeps only endpoints whose labels include all of it
// (a DestinationRule subset). lb shapes the localities for the client
// (locality.go).
func LoadAssignment(snap *model.Snapshot, clusterName, host, portName string, subset map[string]string, lb LocalityLB) *endpointv3.ClusterLoadAssignment {
	cla := &endpointv3.ClusterLoadAssignment{ClusterName: clusterName}
	keep := lb.readsEndpointLabels()
	index := map[model.Locality]int{}
	var groups []localityGroup
	for _, e := range snap.EndpointsForPort(host, portName) {
		if e.Health != model.Healthy || !model.Selects(subset, e.Labels) {
			continue
		}
		i, ok := index[e.Locality]
		if !ok {
			i = len(groups)
			index[e.Locality] = i
			groups = append(groups, localityGroup{lle: &endpointv3.LocalityLbEndpoints{
				Locality:            &corev3.Locality{Region: e.Locality.Region, Zone: e.Locality.Zone, SubZone: e.Locality.SubZone},
				LoadBalancingWeight: wrapperspb.UInt32(0),
			}})
		}
		g := &groups[i]
		if keep {
			g.endpoints = append(g.endpoints, e)
		}
		g.lle.LbEndpoints = append(g.lle.LbEndpoints, &endpointv3.LbEndpoint{
			HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
				Address: SocketAddress(e.Address, e.Port),
			}},
			HealthStatus:        corev3.HealthStatus_HEALTHY,
			LoadBalancingWeight: wrapperspb.UInt32(e.LBWeight()),
			Metadata:            tlsModeMetadata(e),
		})
		g.lle.LoadBalancingWeight.Value += e.LBWeight()
	}
	slices.SortFunc(groups, func(a, b localityGroup) int { return compareLocalities(a.lle, b.lle) })
	if len(groups) > 0 {
		cla.Endpoints = make([]*endpointv3.LocalityLbEndpoints, len(groups))
		for i := range groups {
			cla.Endpoints[i] = groups[i].lle
		}
	}
	if lb.Setting != nil {
		cla.Endpoints = lb.apply(cla.Endpoints, groups)
	}
	return cla
}

// Endpoint metadata that clusters' transport_socket_matches read:
// endpoints of workloads labelled for Istio mTLS carry tlsMode=istio
// under TransportSocketMatchFilter, as istiod writes it.
const (
	TransportSocketMatchFilter = "envoy.transport_socket_match"
	TLSModeMetadataKey         = "tlsMode"
)

var istioTLSMode = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{
	TransportSocketMatchFilter: {Fields: map[string]*structpb.Value{TLSModeMetadataKey: structpb.NewStringValue(mtls.TLSModeIstio)}},
}}

// tlsModeMetadata is the endpoint's metadata: its tlsMode, or none.
// Endpoints share one read-only message.
func tlsModeMetadata(e *model.Endpoint) *corev3.Metadata {
	if mtls.SpeaksMTLS(e.Labels) {
		return istioTLSMode
	}
	return nil
}

// SocketAddress is a TCP address.
func SocketAddress(ip string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address:       ip,
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}
