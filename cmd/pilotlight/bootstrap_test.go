package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	"google.golang.org/grpc/xds"
	"google.golang.org/protobuf/encoding/protojson"
	"sigs.k8s.io/yaml"
)

const (
	ratingsNode = "sidecar~10.1.2.3~ratings-v1-7d9f.bookstore~bookstore.svc.cluster.local"
	gatewayNode = "router~10.1.9.9~ingress-5c4b.istio-system~istio-system.svc.cluster.local"
)

func TestBootstrapEnvoy(t *testing.T) {
	for _, tc := range []struct {
		golden string
		args   []string
	}{{
		golden: "bootstrap/envoy-delta-dns.yaml",
		args: []string{"--envoy", "--xds", "istiod.istio-system.svc:15010", "--node", ratingsNode,
			"--labels", "app=ratings,version=v1", "--service-account", "bookstore-ratings"},
	}, {
		golden: "bootstrap/envoy-sotw-ip.yaml",
		args: []string{"--envoy", "--sotw", "--xds", "127.0.0.1:15010", "--node", gatewayNode,
			"--labels", "istio=ingressgateway", "--region", "eu-west", "--zone", "eu-west-1a"},
	}, {
		// TLS to 15012 with a token file, and the workload certificate
		// over ADS.
		golden: "bootstrap/envoy-sds-token.yaml",
		args: []string{"--envoy", "--sds", "--xds", "istiod.istio-system.svc:15012", "--node", ratingsNode,
			"--service-account", "bookstore-ratings", "--root-cert", "/etc/istio/root-cert.pem",
			"--token-file", "/var/run/secrets/tokens/istio-token"},
	}} {
		t.Run(tc.golden, func(t *testing.T) {
			out, err := runCommand(t, append([]string{"bootstrap"}, tc.args...)...)
			if err != nil {
				t.Fatalf("bootstrap: %v\n%s", err, out)
			}
			checkGolden(t, tc.golden, out)

			// What Envoy will read must decode strictly and pass the
			// same validation Envoy applies on load.
			js, err := yaml.YAMLToJSON(out)
			if err != nil {
				t.Fatal(err)
			}
			b := &bootstrapv3.Bootstrap{}
			if err := protojson.Unmarshal(js, b); err != nil {
				t.Fatalf("output is not an Envoy bootstrap: %v", err)
			}
			if err := b.ValidateAll(); err != nil {
				t.Errorf("output fails validation: %v", err)
			}
			if got := b.GetNode().GetId(); got != tc.args[slices.Index(tc.args, "--node")+1] {
				t.Errorf("node id = %q", got)
			}
		})
	}
}

func TestBootstrapGRPC(t *testing.T) {
	for _, tc := range []struct {
		golden string
		args   []string
	}{{
		golden: "bootstrap/grpc.json",
		args: []string{"--grpc", "--xds", "localhost:15010", "--node", ratingsNode,
			"--labels", "app=ratings,version=v1", "--service-account", "bookstore-ratings",
			"--region", "eu-west", "--zone", "eu-west-1a"},
	}, {
		// No locality flags: the node still carries an (empty) locality.
		golden: "bootstrap/grpc-no-locality.json",
		args:   []string{"--grpc", "--xds", "10.96.0.10:15010", "--node", ratingsNode},
	}, {
		// mTLS: the workload's files as istio-agent writes them, read
		// again every 30 seconds.
		golden: "bootstrap/grpc-certs.json",
		args: []string{"--grpc", "--xds", "localhost:15010", "--node", ratingsNode,
			"--cert-dir", "/var/lib/istio/data", "--cert-refresh", "30s"},
	}} {
		t.Run(tc.golden, func(t *testing.T) {
			out, err := runCommand(t, append([]string{"bootstrap"}, tc.args...)...)
			if err != nil {
				t.Fatalf("bootstrap: %v\n%s", err, out)
			}
			checkGolden(t, tc.golden, out)
			if err := grpcAccepts(out); err != nil {
				t.Errorf("grpc-go rejects the bootstrap: %v", err)
			}
			if !strings.Contains(string(out), `"locality": {`) {
				t.Errorf("bootstrap has no node locality; @grpc/grpc-js-xds needs one:\n%s", out)
			}
		})
	}
}

// grpcAccepts hands a bootstrap to grpc-go's xDS server constructor, which
// parses it with grpc-go's own bootstrap parser and checks what an
// xDS-enabled server needs (the listener name template). Creating the
// server does not connect to the control plane.
func grpcAccepts(bootstrap []byte) error {
	s, err := xds.NewGRPCServer(xds.BootstrapContentsForTesting(bootstrap))
	if err != nil {
		return err
	}
	s.Stop()
	return nil
}

// TestGRPCParserRejects shows that grpcAccepts is a real check.
func TestGRPCParserRejects(t *testing.T) {
	for name, bootstrap := range map[string]string{
		"not JSON":   `xds_servers: []`,
		"no servers": `{"node": {"id": "x"}, "server_listener_resource_name_template": "x/%s"}`,
		"no server listener template": `{"xds_servers": [{"server_uri": "localhost:15010", ` +
			`"channel_creds": [{"type": "insecure"}]}], "node": {"id": "x"}}`,
	} {
		if err := grpcAccepts([]byte(bootstrap)); err == nil {
			t.Errorf("%s: grpc-go accepted %s", name, bootstrap)
		}
	}
}

func TestBootstrapOutputFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bootstrap.json")
	out, err := runCommand(t, "bootstrap", "--grpc", "--xds", "localhost:15010", "--node", ratingsNode, "--output", path)
	if err != nil {
		t.Fatalf("bootstrap: %v\n%s", err, out)
	}
	if len(out) != 0 {
		t.Errorf("wrote %q to standard output as well as to the file", out)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := grpcAccepts(data); err != nil {
		t.Errorf("grpc-go rejects the bootstrap: %v", err)
	}
}

func TestBootstrapErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no flavour", []string{"--xds", "a:1", "--node", ratingsNode}, "envoy grpc"},
		{"both flavours", []string{"--envoy", "--grpc", "--xds", "a:1", "--node", ratingsNode}, "none of the others"},
		{"no node", []string{"--envoy", "--xds", "a:1"}, `"node" not set`},
		{"bad node", []string{"--envoy", "--xds", "a:1", "--node", "ratings"}, "--node"},
		{"bad ip", []string{"--envoy", "--xds", "a:1", "--node", "sidecar~nope~a.b~b.svc.cluster.local"}, "bad IP"},
		{"namespace contradicts id", []string{"--envoy", "--xds", "a:1", "--node", ratingsNode, "--namespace", "default"}, "contradicts"},
		{"xds without port", []string{"--envoy", "--xds", "localhost", "--node", ratingsNode}, "HOST:PORT"},
		{"xds port zero", []string{"--envoy", "--xds", "localhost:0", "--node", ratingsNode}, "port from 1"},
		{"sotw for grpc", []string{"--grpc", "--sotw", "--xds", "a:1", "--node", ratingsNode}, "--sotw"},
		{"cert dir for envoy", []string{"--envoy", "--cert-dir", "/certs", "--xds", "a:1", "--node", ratingsNode}, "--cert-dir applies to --grpc only"},
		{"no cert refresh", []string{"--grpc", "--cert-dir", "/certs", "--cert-refresh", "0s", "--xds", "a:1", "--node", ratingsNode}, "refresh interval 0s: want a positive duration"},
		{"sds for grpc", []string{"--grpc", "--sds", "--xds", "a:1", "--node", ratingsNode}, "apply to --envoy only"},
		{"token without root", []string{"--envoy", "--token-file", "/t", "--xds", "a:1", "--node", ratingsNode}, "--token-file and --root-cert go together"},
		{"root without token", []string{"--envoy", "--root-cert", "/r", "--xds", "a:1", "--node", ratingsNode}, "--token-file and --root-cert go together"},
		{"sds without token", []string{"--envoy", "--sds", "--xds", "a:1", "--node", ratingsNode}, "--sds needs --token-file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runCommand(t, append([]string{"bootstrap"}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
