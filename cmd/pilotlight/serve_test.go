package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"go.uber.org/zap/zaptest"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/resource"
	"github.com/pilotlight/pilotlight/xds/client"
)

// startServe runs serve on loopback ports and returns its addresses; the
// server is stopped, and must stop in time, when the test ends. tune
// changes the options before serve starts.
func startServe(t *testing.T, configDir string, tune ...func(*serveOptions)) (xdsAddr, httpAddr string) {
	t.Helper()
	listen := func() net.Listener {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	grpcLis, httpLis := listen(), listen()
	o := serveOptions{configDir: configDir, domainSuffix: "cluster.local", debounce: time.Millisecond, debounceMax: 10 * time.Millisecond, maxStreamAge: time.Hour}
	for _, f := range tune {
		f(&o)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, o, zaptest.NewLogger(t), model.DefaultMeshConfig(), grpcLis, httpLis) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(2 * shutdownGrace):
			t.Errorf("serve did not stop within %v of its context ending", 2*shutdownGrace)
		}
	})
	return grpcLis.Addr().String(), httpLis.Addr().String()
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// eventually retries check until it passes or 10 s have gone by.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServe wires the real server, source and HTTP endpoints together and
// drives them as a user would: proxies connect over ADS, and the CLI
// reads their state back.
func TestServe(t *testing.T) {
	xdsAddr, httpAddr := startServe(t, "testdata/analyze/good")
	base := "http://" + httpAddr

	eventually(t, "ready", func() error {
		if code, body := httpGet(t, base+"/ready"); code != http.StatusOK {
			return errors.New(body)
		}
		return nil
	})

	// An Envoy-like delta client that accepts everything, and a SotW
	// client that rejects every cluster.
	envoy := connect(t, xdsAddr, "sidecar~10.244.1.50~web-1.bookstore~bookstore.svc.cluster.local", client.Options{Delta: true})
	picky := connect(t, xdsAddr, "sidecar~10.244.1.51~picky-1.bookstore~bookstore.svc.cluster.local", client.Options{
		Reject: func(string, string, *anypb.Any) error { return errors.New("this client accepts no clusters") },
	})
	for _, c := range []*client.Client{envoy, picky} {
		if err := c.Subscribe(resource.ClusterType); err != nil {
			t.Fatal(err)
		}
	}
	u := <-envoy.Updates()
	if _, ok := u.Resources["outbound|9080||ratings.bookstore.svc.cluster.local"]; !ok {
		t.Fatalf("the ratings cluster is missing from %v", keys(u.Resources))
	}

	eventually(t, "proxy-status", func() error {
		out, err := runCommand(t, "proxy-status", "--http", httpAddr)
		if err != nil {
			return err
		}
		for _, want := range []string{"web-1.bookstore", "SYNCED", "picky-1.bookstore", "STALE (NACKED)", "this client accepts no clusters"} {
			if !strings.Contains(string(out), want) {
				return errors.New("no " + want + " in:\n" + string(out))
			}
		}
		return nil
	})

	out, err := runCommand(t, "proxy-config", "clusters", "web-1.bookstore", "--http", httpAddr)
	if err != nil {
		t.Fatalf("proxy-config: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "ratings.bookstore.svc.cluster.local   9080") {
		t.Errorf("proxy-config clusters does not show ratings:\n%s", out)
	}

	for path, want := range map[string]string{
		"/metrics":        "pilotlight_xds_connected_proxies 2",
		"/debug/pprof/":   "goroutine",
		"/debug/problemz": "[]",
	} {
		code, body := httpGet(t, base+path)
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("GET %s: %d, want 200 with %q:\n%.500s", path, code, want, body)
		}
	}
	if code, body := httpGet(t, base+"/metrics"); !strings.Contains(body, "go_goroutines") || !strings.Contains(body, "process_cpu_seconds_total") {
		t.Errorf("GET /metrics: %d, no Go or process metrics", code)
	}
	// The proxies stay connected: stopping must not wait for them.
}

func connect(t *testing.T, addr, id string, opts client.Options) *client.Client {
	t.Helper()
	c, err := client.Dial(context.Background(), addr, &corev3.Node{Id: id}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestServeFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    serveOptions
		want string
	}{
		{"no config dir", serveOptions{}, "Kubernetes API"},
		{"bad log level", serveOptions{configDir: "x", log: logOptions{format: "json", level: "loud"}}, "--log-level"},
		{"bad log format", serveOptions{configDir: "x", log: logOptions{format: "xml", level: "info"}}, "--log-format"},
		{"bad mesh config", serveOptions{configDir: "x", meshConfig: "testdata/no-such-mesh.yaml", log: logOptions{format: "json", level: "info"}}, "--mesh-config"},
		{"bad grpc address", serveOptions{configDir: "x", grpcAddr: "256.0.0.1:1", log: logOptions{format: "json", level: "info"}}, "--grpc-addr"},
		{"negative jwks timeout", serveOptions{configDir: "x", jwksTimeout: -time.Second}, "--jwks-timeout"},
		{"bad blocked range", serveOptions{configDir: "x", jwksBlockedCIDRs: []string{"169.254.0.0/16", "metadata"}}, `"metadata" is not a CIDR range`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := runServe(context.Background(), tc.o, zaptestSink{t})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestServeStopsOnSourceFailure: a config directory that cannot be read
// ends serve with an error naming it, instead of serving nothing forever.
func TestServeStopsOnSourceFailure(t *testing.T) {
	o := serveOptions{configDir: "testdata/no-such-dir", grpcAddr: "127.0.0.1:0", httpAddr: "127.0.0.1:0", log: logOptions{format: "console", level: "error"}}
	done := make(chan error, 1)
	go func() { done <- runServe(context.Background(), o, zaptestSink{t}) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "no-such-dir") {
			t.Errorf("error = %v, want one naming the directory", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve kept running without its config directory")
	}
}

// zaptestSink sends serve's log output to the test log.
type zaptestSink struct{ t *testing.T }

func (s zaptestSink) Write(p []byte) (int, error) {
	s.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func (zaptestSink) Sync() error { return nil }

// TestServeInlinesFetchedJWKS: serve fetches a RequestAuthentication's
// jwksUri and the workload's sidecar gets the keys inline in jwt_authn;
// a failing key server is reported on /debug/problemz.
func TestServeInlinesFetchedJWKS(t *testing.T) {
	var fail atomic.Bool
	keyServer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if fail.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, `{"keys":[{"kty":"EC","crv":"P-256","kid":"served-by-the-test","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`)
	}))
	defer keyServer.Close()
	dir := t.TempDir()
	config := `apiVersion: v1
kind: Service
metadata: {name: api, namespace: bank}
spec:
  clusterIP: 10.96.9.1
  ports: [{name: http, port: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: api-1
  namespace: bank
  labels: {kubernetes.io/service-name: api}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints: [{addresses: [10.244.9.9]}]
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: issuer, namespace: bank}
spec:
  jwtRules:
  - issuer: https://issuer.example
    jwksUri: ` + keyServer.URL + `/keys
`
	if err := os.WriteFile(filepath.Join(dir, "mesh.yaml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	xdsAddr, httpAddr := startServe(t, dir, func(o *serveOptions) { o.jwksRefresh = 50 * time.Millisecond })
	eventually(t, "ready", func() error {
		if code, body := httpGet(t, "http://"+httpAddr+"/ready"); code != http.StatusOK {
			return errors.New(body)
		}
		return nil
	})
	sidecar := connect(t, xdsAddr, "sidecar~10.244.9.9~api-1.bank~bank.svc.cluster.local", client.Options{})
	if err := sidecar.Subscribe(resource.ListenerType); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
wait:
	for {
		select {
		case u, open := <-sidecar.Updates():
			if !open {
				t.Fatalf("stream ended: %v", sidecar.Err())
			}
			inbound, ok := u.Resources[resource.VirtualInboundListener]
			if !ok {
				continue
			}
			js, err := protojson.Marshal(inbound)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(js), "served-by-the-test") {
				break wait
			}
		case <-deadline:
			t.Fatal("the fetched keys never reached the sidecar's jwt_authn")
		}
	}

	// Keys that cannot be refreshed are a problem on /debug/problemz.
	fail.Store(true)
	eventually(t, "the failure on /debug/problemz", func() error {
		if _, body := httpGet(t, "http://"+httpAddr+"/debug/problemz"); !strings.Contains(body, "500 Internal Server Error") {
			return errors.New(body)
		}
		return nil
	})
}
