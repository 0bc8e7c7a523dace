package client

import (
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

func TestNameOfReadsEveryResourceType(t *testing.T) {
	for want, m := range map[string]proto.Message{
		"outbound|80||a.ns.svc.cluster.local": &clusterv3.Cluster{
			Name:           "outbound|80||a.ns.svc.cluster.local",
			AltStatName:    "decoy",
			LoadAssignment: &endpointv3.ClusterLoadAssignment{ClusterName: "nested"},
		},
		"eds-name": &endpointv3.ClusterLoadAssignment{
			ClusterName: "eds-name",
			Endpoints:   []*endpointv3.LocalityLbEndpoints{{Locality: &corev3.Locality{Region: "r"}}},
		},
		"virtualInbound": &listenerv3.Listener{Name: "virtualInbound", StatPrefix: "x"},
		"8080":           &routev3.RouteConfiguration{Name: "8080", VirtualHosts: []*routev3.VirtualHost{{Name: "vh"}}},
		"default":        &tlsv3.Secret{Name: "default"},
		"":               &clusterv3.Cluster{AltStatName: "no name"},
	} {
		a, err := anypb.New(m)
		if err != nil {
			t.Fatal(err)
		}
		if got := nameOf(a); got != want {
			t.Errorf("nameOf(%T) = %q, want %q", m, got, want)
		}
	}
	if got := nameOf(&anypb.Any{Value: []byte{0xff, 0xff}}); got != "" {
		t.Errorf("nameOf(garbage) = %q, want empty", got)
	}
}
