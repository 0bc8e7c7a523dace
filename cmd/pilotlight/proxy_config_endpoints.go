package main

import (
	"io"
	"net"
	"strconv"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/proto"
)

func writeEndpoints(w io.Writer, msgs []proto.Message) error {
	t := newTable(w, "ENDPOINT", "STATUS", "OUTLIER CHECK", "CLUSTER")
	for _, m := range msgs {
		cla, ok := m.(*endpointv3.ClusterLoadAssignment)
		if !ok {
			continue
		}
		for _, locality := range cla.GetEndpoints() {
			for _, ep := range locality.GetLbEndpoints() {
				t.row(addressString(ep.GetEndpoint().GetAddress()), healthStatus(ep.GetHealthStatus()), "", cla.GetClusterName())
			}
		}
	}
	return t.flush()
}

// healthStatus shows UNKNOWN as HEALTHY: it is what a control plane sends
// when it has no health information, and Envoy routes to such endpoints
// as healthy.
func healthStatus(s corev3.HealthStatus) string {
	if s == corev3.HealthStatus_UNKNOWN {
		return corev3.HealthStatus_HEALTHY.String()
	}
	return s.String()
}

// addressString renders a socket address as HOST:PORT, a pipe as its path.
func addressString(a *corev3.Address) string {
	if p := a.GetPipe(); p != nil {
		return "unix://" + p.GetPath()
	}
	sa := a.GetSocketAddress()
	if sa == nil {
		return ""
	}
	return net.JoinHostPort(sa.GetAddress(), strconv.FormatUint(uint64(sa.GetPortValue()), 10))
}
