// Package bootstrap writes the bootstrap a proxy needs to connect to
// pilotlight without istio-agent: an Envoy v3 bootstrap, or the JSON
// bootstrap gRPC's xDS clients and servers read. The node it announces is
// checked exactly as the xDS server will check it, so a bootstrap that
// pilotlight would refuse is an error here, not a mystery at connect time.
package bootstrap

import (
	"fmt"
	"net"
	"strconv"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/pilotlight/pilotlight/translate/model"
)

// Node is the identity a bootstrap announces.
type Node struct {
	// ID is Istio's TYPE~IP~POD.NAMESPACE~NAMESPACE.svc.cluster.local.
	ID string
	// Namespace defaults to the id's; it must match it.
	Namespace      string
	Labels         map[string]string
	ServiceAccount string
	// ClusterID as istio-agent reports it; Kubernetes by default.
	ClusterID    string
	Region, Zone string
	// Proxyless marks a gRPC application (GENERATOR=grpc).
	Proxyless bool
	// WorkloadSDS asks for the workload certificate over ADS
	// (model.MetaWorkloadSDS).
	WorkloadSDS bool
}

// Proto builds the xDS node with the metadata keys istio-agent sets, and
// checks it with the server's own parser.
func (n Node) Proto() (*corev3.Node, error) {
	bare, err := model.ParseProxy(&corev3.Node{Id: n.ID})
	if err != nil {
		return nil, err
	}
	ns := n.Namespace
	if ns == "" {
		ns = bare.Namespace
	}
	clusterID := n.ClusterID
	if clusterID == "" {
		clusterID = "Kubernetes"
	}
	md := map[string]any{
		model.MetaNamespace:   ns,
		model.MetaInstanceIPs: bare.IPAddresses[0],
		model.MetaClusterID:   clusterID,
	}
	if len(n.Labels) > 0 {
		labels := make(map[string]any, len(n.Labels))
		for k, v := range n.Labels {
			labels[k] = v
		}
		md[model.MetaLabels] = labels
	}
	if n.ServiceAccount != "" {
		md[model.MetaServiceAccount] = n.ServiceAccount
	}
	if n.Proxyless {
		md[model.MetaGenerator] = model.GeneratorGRPC
	}
	if n.WorkloadSDS {
		md[model.MetaWorkloadSDS] = "true"
	}
	st, err := structpb.NewStruct(md)
	if err != nil {
		return nil, fmt.Errorf("node metadata: %w", err)
	}
	node := &corev3.Node{Id: n.ID, Cluster: serviceCluster(n.Labels, bare.PodName, ns), Metadata: st}
	if n.Region != "" || n.Zone != "" {
		node.Locality = &corev3.Locality{Region: n.Region, Zone: n.Zone}
	}
	if _, err := model.ParseProxy(node); err != nil {
		return nil, err
	}
	return node, nil
}

// serviceCluster names the node's cluster as istio-agent does,
// APP.NAMESPACE, so Envoy stats and access logs read the same as under
// istiod. Without an app label the pod name stands in.
func serviceCluster(labels map[string]string, pod, ns string) string {
	for _, key := range []string{"app.kubernetes.io/name", "app"} {
		if v := labels[key]; v != "" {
			return v + "." + ns
		}
	}
	return pod + "." + ns
}

// SplitAddress checks an xDS address HOST:PORT.
func SplitAddress(addr string) (string, uint32, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("xDS address %q: want HOST:PORT: %w", addr, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 || host == "" {
		return "", 0, fmt.Errorf("xDS address %q: want HOST:PORT with a port from 1 to 65535", addr)
	}
	return host, uint32(port), nil
}
