package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/pilotlight/pilotlight/translate/model"
)

// bootstrapOptions are the flags of 'pilotlight bootstrap'.
type bootstrapOptions struct {
	node           string
	xds            string
	envoy          bool
	grpc           bool
	sotw           bool
	namespace      string
	labels         map[string]string
	serviceAccount string
	clusterID      string
	region         string
	zone           string
	output         string
}

func newBootstrapCommand() *cobra.Command {
	o := bootstrapOptions{}
	cmd := &cobra.Command{
		Use:   "bootstrap --node ID --xds ADDR (--envoy | --grpc)",
		Short: "Print a bootstrap that connects Envoy or a proxyless gRPC client to pilotlight",
		Long: `Print a bootstrap for a proxy that talks to pilotlight directly, without
istio-agent.

--envoy writes an Envoy v3 bootstrap (YAML) with a static xds-grpc cluster
and ADS (delta xDS unless --sotw). --grpc writes the JSON bootstrap that
gRPC's xDS clients read from GRPC_XDS_BOOTSTRAP.

The node id is Istio's TYPE~IP~POD.NAMESPACE~NAMESPACE.svc.cluster.local;
pilotlight uses it, with --labels and --service-account, to decide which
workload the proxy is and what it may see.`,
		Example: `  pilotlight bootstrap --envoy --xds localhost:15010 \
    --node sidecar~10.0.0.1~ratings-1.bookstore~bookstore.svc.cluster.local \
    --labels app=ratings,version=v1 --service-account ratings > envoy.yaml
  pilotlight bootstrap --grpc --xds localhost:15010 \
    --node sidecar~10.0.0.2~client-1.bookstore~bookstore.svc.cluster.local \
    --output /tmp/xds-bootstrap.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBootstrap(cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.node, "node", "", "node id, TYPE~IP~POD.NAMESPACE~NAMESPACE.svc.cluster.local (required)")
	f.StringVar(&o.xds, "xds", "", "pilotlight's xDS address HOST:PORT, e.g. localhost:15010 (required)")
	f.BoolVar(&o.envoy, "envoy", false, "write an Envoy v3 bootstrap (YAML)")
	f.BoolVar(&o.grpc, "grpc", false, "write a gRPC xDS bootstrap (JSON)")
	f.BoolVar(&o.sotw, "sotw", false, "Envoy only: use state-of-the-world ADS instead of delta xDS")
	f.StringVar(&o.namespace, "namespace", "", "workload namespace (default: the one in the node id, which it must match)")
	f.StringToStringVar(&o.labels, "labels", nil, "workload labels, k=v,k2=v2 (they select the workload's Services and policies)")
	f.StringVar(&o.serviceAccount, "service-account", "", "workload service account")
	f.StringVar(&o.clusterID, "cluster-id", "Kubernetes", "cluster id, as istio-agent reports it")
	f.StringVar(&o.region, "region", "", "locality region of the workload")
	f.StringVar(&o.zone, "zone", "", "locality zone of the workload")
	f.StringVar(&o.output, "output", "", "write to FILE instead of standard output")
	for _, name := range []string{"node", "xds"} {
		if err := cmd.MarkFlagRequired(name); err != nil {
			panic(err)
		}
	}
	cmd.MarkFlagsMutuallyExclusive("envoy", "grpc")
	cmd.MarkFlagsOneRequired("envoy", "grpc")
	return cmd
}

func runBootstrap(stdout io.Writer, o bootstrapOptions) error {
	if o.sotw && !o.envoy {
		return errors.New("--sotw applies to --envoy only: gRPC clients speak state-of-the-world xDS anyway")
	}
	node, err := newBootstrapNode(o)
	if err != nil {
		return err
	}
	host, port, err := splitXDSAddress(o.xds)
	if err != nil {
		return err
	}
	var out []byte
	if o.envoy {
		out, err = envoyBootstrap(node, host, port, !o.sotw)
	} else {
		out, err = grpcBootstrap(node, o.xds)
	}
	if err != nil {
		return err
	}
	if o.output == "" {
		_, err = stdout.Write(out)
		return err
	}
	return os.WriteFile(o.output, out, 0o644)
}

// bootstrapNode is the identity a bootstrap announces, in the form both
// bootstrap formats share.
type bootstrapNode struct {
	id      string
	cluster string
	// metadata holds the keys istio-agent would set, as JSON values.
	metadata map[string]any
	region   string
	zone     string
}

// newBootstrapNode builds the node and checks it the way pilotlight's xDS
// server will: a bootstrap that pilotlight would refuse is an error here,
// not a mystery at connect time.
func newBootstrapNode(o bootstrapOptions) (*bootstrapNode, error) {
	// Parse the bare id first to learn its IP and namespace.
	bare, err := model.ParseProxy(&corev3.Node{Id: o.node})
	if err != nil {
		return nil, fmt.Errorf("--node: %w", err)
	}
	ns := o.namespace
	if ns == "" {
		ns = bare.Namespace
	}
	md := map[string]any{
		model.MetaNamespace:   ns,
		model.MetaInstanceIPs: bare.IPAddresses[0],
		model.MetaClusterID:   o.clusterID,
	}
	if len(o.labels) > 0 {
		labels := make(map[string]any, len(o.labels))
		for k, v := range o.labels {
			labels[k] = v
		}
		md[model.MetaLabels] = labels
	}
	if o.serviceAccount != "" {
		md[model.MetaServiceAccount] = o.serviceAccount
	}
	if o.grpc {
		md[model.MetaGenerator] = model.GeneratorGRPC
	}
	n := &bootstrapNode{
		id:       o.node,
		cluster:  serviceCluster(o.labels, bare.PodName, ns),
		metadata: md,
		region:   o.region,
		zone:     o.zone,
	}
	pb, err := n.proto()
	if err != nil {
		return nil, err
	}
	if _, err := model.ParseProxy(pb); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	return n, nil
}

// proto is the node as an Envoy core.v3.Node.
func (n *bootstrapNode) proto() (*corev3.Node, error) {
	md, err := structpb.NewStruct(n.metadata)
	if err != nil {
		return nil, fmt.Errorf("node metadata: %w", err)
	}
	node := &corev3.Node{Id: n.id, Cluster: n.cluster, Metadata: md}
	if n.region != "" || n.zone != "" {
		node.Locality = &corev3.Locality{Region: n.region, Zone: n.zone}
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

// splitXDSAddress checks HOST:PORT early, with a message that names the
// flag, instead of leaving it to the proxy to fail on.
func splitXDSAddress(addr string) (string, uint32, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("--xds %q: want HOST:PORT: %w", addr, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 || host == "" {
		return "", 0, fmt.Errorf("--xds %q: want HOST:PORT with a port from 1 to 65535", addr)
	}
	return host, uint32(port), nil
}
