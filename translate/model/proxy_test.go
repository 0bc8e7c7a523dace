package model

import (
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/types/known/structpb"
)

func node(t *testing.T, id string, md map[string]any) *corev3.Node {
	t.Helper()
	s, err := structpb.NewStruct(md)
	if err != nil {
		t.Fatal(err)
	}
	return &corev3.Node{Id: id, Metadata: s}
}

func TestParseProxy(t *testing.T) {
	n := node(t, "sidecar~10.244.1.5~reviews-v1-7d.bookstore~bookstore.svc.cluster.local", map[string]any{
		"NAMESPACE":       "bookstore",
		"SERVICE_ACCOUNT": "reviews",
		"INSTANCE_IPS":    "10.244.1.5,fd00::5",
		"LABELS":          map[string]any{"app": "reviews", "version": "v1"},
		"GENERATOR":       "grpc",
		"CLUSTER_ID":      "Kubernetes",
		MetaWorkloadSDS:   "true",
	})
	n.Locality = &corev3.Locality{Region: "r1", Zone: "z1"}
	got, err := ParseProxy(n)
	if err != nil {
		t.Fatal(err)
	}
	want := &Proxy{
		ID:             n.Id,
		Type:           SidecarProxy,
		IPAddresses:    []string{"10.244.1.5", "fd00::5"},
		PodName:        "reviews-v1-7d",
		Namespace:      "bookstore",
		DNSDomain:      "bookstore.svc.cluster.local",
		Labels:         map[string]string{"app": "reviews", "version": "v1"},
		ServiceAccount: "reviews",
		ClusterID:      "Kubernetes",
		Generator:      "grpc",
		Locality:       Locality{Region: "r1", Zone: "z1"},
		WorkloadSDS:    true,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseProxy (-want +got):\n%s", diff)
	}
	if !got.Proxyless() {
		t.Error("GENERATOR=grpc must be proxyless")
	}
}

// A node id that lies or is malformed is rejected with a message that
// says what is wrong, so it never gets another namespace's view.
func TestParseProxyRejects(t *testing.T) {
	for _, tc := range []struct {
		id   string
		md   map[string]any
		want string
	}{
		{"", nil, "required"},
		{"sidecar~10.0.0.1~pod.ns", nil, "got 3 fields"},
		{"gateway~10.0.0.1~pod.ns~ns.svc.cluster.local", nil, "unknown proxy type"},
		{"sidecar~10.0.0.300~pod.ns~ns.svc.cluster.local", nil, "bad IP"},
		{"sidecar~10.0.0.1~pod~ns.svc.cluster.local", nil, "not POD.NAMESPACE"},
		{"sidecar~10.0.0.1~pod.ns~other.svc.cluster.local", nil, "disagree"},
		{"sidecar~10.0.0.1~pod.ns~ns.svc.cluster.local", map[string]any{"NAMESPACE": "kube-system"}, "contradicts"},
		{"sidecar~10.0.0.1~pod.ns~ns.svc.cluster.local", map[string]any{"INSTANCE_IPS": "10.0.0.1,nope"}, "INSTANCE_IPS"},
	} {
		_, err := ParseProxy(node(t, tc.id, tc.md))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseProxy(%q, %v) = %v, want error containing %q", tc.id, tc.md, err, tc.want)
		}
	}
}

func TestDetectProtocol(t *testing.T) {
	for _, tc := range []struct {
		name, app, l4 string
		want          Protocol
	}{
		{"http", "", "TCP", HTTP},
		{"http-web", "", "TCP", HTTP},
		{"http2-x", "", "", HTTP2},
		{"grpc", "", "", GRPC},
		{"grpc-web", "", "", GRPCWeb},
		{"https-admin", "", "", HTTPS},
		{"tcp-postgres", "", "", TCP},
		{"tls", "", "", TLS},
		{"metrics", "", "TCP", Unsupported},
		{"", "", "", Unsupported},
		{"web", "grpc", "TCP", GRPC},
		{"http", "tcp", "TCP", TCP},
		{"x", "kubernetes.io/h2c", "", HTTP2},
		{"x", "kubernetes.io/ws", "", HTTP},
		{"x", "unknown", "", Unsupported},
		{"http-dns", "", "UDP", UDP},
		{"HTTP-Upper", "", "", HTTP},
	} {
		if got := DetectProtocol(tc.name, tc.app, tc.l4); got != tc.want {
			t.Errorf("DetectProtocol(%q, %q, %q) = %s, want %s", tc.name, tc.app, tc.l4, got, tc.want)
		}
	}
}
