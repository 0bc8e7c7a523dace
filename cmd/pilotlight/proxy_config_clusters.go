package main

import (
	"io"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/proto"
)

func writeClusters(w io.Writer, msgs []proto.Message) error {
	t := newTable(w, "SERVICE FQDN", "PORT", "SUBSET", "DIRECTION", "TYPE", "DESTINATION RULE")
	for _, m := range msgs {
		c, ok := m.(*clusterv3.Cluster)
		if !ok {
			continue
		}
		fqdn, port, subset, direction := splitClusterName(c.GetName())
		t.row(fqdn, port, subset, direction, clusterType(c), istioConfigName(c.GetMetadata()))
	}
	return t.flush()
}

// splitClusterName reads Istio's outbound|PORT|SUBSET|HOST and
// inbound|PORT|| names; any other name (BlackHoleCluster, ...) is shown
// whole as the service.
func splitClusterName(name string) (fqdn, port, subset, direction string) {
	parts := strings.Split(name, "|")
	if len(parts) != 4 || (parts[0] != "outbound" && parts[0] != "inbound") {
		return name, "", "", ""
	}
	return parts[3], parts[1], parts[2], parts[0]
}

func clusterType(c *clusterv3.Cluster) string {
	if ct := c.GetClusterType(); ct != nil {
		return ct.GetName()
	}
	return c.GetType().String()
}

// istioConfigName reads the Istio object a resource came from, which
// istiod records as filter metadata istio.config =
// /apis/GROUP/VERSION/namespaces/NS/KIND/NAME, and shows it as NAME.NS.
func istioConfigName(md *corev3.Metadata) string {
	path := md.GetFilterMetadata()["istio"].GetFields()["config"].GetStringValue()
	if path == "" {
		return ""
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	for i, p := range parts {
		if p == "namespaces" && i+3 < len(parts) {
			return parts[len(parts)-1] + "." + parts[i+1]
		}
	}
	return path
}
