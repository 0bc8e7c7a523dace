// Package xdstest builds xDS nodes shaped like istio-agent's for tests and
// benchmarks of the xDS server; synthetic meshes come from
// translate/model/modeltest. It is test support: nothing in the server
// imports it.
package xdstest

import (
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/pilotlight/pilotlight/translate/model"
)

// Node is an xDS node as istio-agent sends it for a sidecar (Type
// "sidecar"), a gateway ("router") or, with Generator "grpc", a
// proxyless gRPC workload.
type Node struct {
	Type           string
	IP             string
	Pod            string
	Namespace      string
	Labels         map[string]string
	ServiceAccount string
	Generator      string
	// MetaNamespace overrides the NAMESPACE metadata (to build a node
	// that lies about its namespace).
	MetaNamespace string
}

// Proto renders the node.
func (n Node) Proto() *corev3.Node {
	if n.Type == "" {
		n.Type = "sidecar"
	}
	if n.MetaNamespace == "" {
		n.MetaNamespace = n.Namespace
	}
	md := map[string]any{
		model.MetaNamespace:   n.MetaNamespace,
		model.MetaInstanceIPs: n.IP,
		model.MetaClusterID:   "Kubernetes",
	}
	if n.ServiceAccount != "" {
		md[model.MetaServiceAccount] = n.ServiceAccount
	}
	if n.Generator != "" {
		md[model.MetaGenerator] = n.Generator
	}
	if len(n.Labels) > 0 {
		labels := map[string]any{}
		for k, v := range n.Labels {
			labels[k] = v
		}
		md[model.MetaLabels] = labels
	}
	meta, err := structpb.NewStruct(md)
	if err != nil {
		panic(err) // only strings and maps of strings: cannot fail
	}
	return &corev3.Node{
		Id:       fmt.Sprintf("%s~%s~%s.%s~%s.svc.cluster.local", n.Type, n.IP, n.Pod, n.Namespace, n.Namespace),
		Cluster:  n.Pod,
		Metadata: meta,
	}
}
