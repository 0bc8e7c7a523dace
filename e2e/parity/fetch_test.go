package parity

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/pilotlight/pilotlight/xds/bootstrap"
	"github.com/pilotlight/pilotlight/xds/client"
)

// istioVersion is the proxy version the nodes announce: the Istio the
// reference istiod is built from. istiod gates features on it.
const istioVersion = "1.31.0"

// fetchTimeout bounds one complete fetch; both control planes answer in
// well under a second on an idle machine.
const fetchTimeout = 2 * time.Minute

// Node types of Istio's node ids.
const (
	sidecarNode = "sidecar"
	routerNode  = "router"
)

// proxyNode is the xDS node a Pod's istio-agent announces: pilotlight's
// own bootstrap node (id, namespace, labels, service account, instance
// IPs, cluster id, locality), plus the keys the agent also sets that
// istiod reads (version, pod and workload names, interception mode, mesh
// id, node name, ports).
func proxyNode(t *testing.T, p pod, typ string) *corev3.Node {
	t.Helper()
	node, err := bootstrap.Node{
		ID:             fmt.Sprintf("%s~%s~%s.%s~%s.svc.cluster.local", typ, p.ip, p.name, p.namespace, p.namespace),
		Labels:         p.labels,
		ServiceAccount: p.serviceAccount,
		Region:         region,
		Zone:           zone,
	}.Proto()
	if err != nil {
		t.Fatal(err)
	}
	ports := make([]map[string]any, 0, len(p.ports))
	for _, n := range p.ports {
		ports = append(ports, map[string]any{"containerPort": n, "protocol": "TCP"})
	}
	podPorts, err := json.Marshal(ports)
	if err != nil {
		t.Fatal(err)
	}
	workload := p.labels["app"]
	extra := map[string]any{
		"ISTIO_VERSION":         istioVersion,
		"NAME":                  p.name,
		"WORKLOAD_NAME":         workload,
		"OWNER":                 "kubernetes://apis/apps/v1/namespaces/" + p.namespace + "/deployments/" + workload,
		"MESH_ID":               "cluster.local",
		"INTERCEPTION_MODE":     "REDIRECT",
		"NODE_NAME":             nodeName,
		"POD_PORTS":             string(podPorts),
		"APP_CONTAINERS":        "app",
		"ENVOY_STATUS_PORT":     15021,
		"ENVOY_PROMETHEUS_PORT": 15090,
	}
	for k, v := range extra {
		if node.Metadata.Fields[k], err = structpb.NewValue(v); err != nil {
			t.Fatal(err)
		}
	}
	return node
}

// fetched is what a control plane sent one proxy.
type fetched struct {
	config client.Config
	took   time.Duration
}

// fetch connects to a control plane's plaintext ADS address as node,
// subscribes as Envoy does (state of the world, which both servers speak)
// and returns the first complete configuration.
func fetch(t *testing.T, addr string, node *corev3.Node) fetched {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
	defer cancel()
	start := time.Now()
	c, err := client.Dial(ctx, addr, node, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cfg, err := c.FetchEnvoy(ctx)
	if err != nil {
		t.Fatalf("fetch the config of %s from %s: %v", node.GetId(), addr, err)
	}
	if s := c.Stats(); s.NACKs > 0 {
		t.Errorf("%s from %s: the client rejected %d responses", node.GetId(), addr, s.NACKs)
	}
	return fetched{config: cfg, took: time.Since(start)}
}

// summary counts a config's resources by type, for the log.
func (f fetched) summary() string {
	var parts []string
	for _, typ := range []string{"Listener", "RouteConfiguration", "Cluster", "ClusterLoadAssignment"} {
		for url, res := range f.config.Resources {
			if strings.HasSuffix(url, "."+typ) {
				parts = append(parts, typ+"="+strconv.Itoa(len(res)))
			}
		}
	}
	return fmt.Sprintf("%s, %d bytes, in %v", strings.Join(parts, " "), f.config.Bytes, f.took.Round(time.Millisecond))
}
