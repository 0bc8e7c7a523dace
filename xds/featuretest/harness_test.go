package featuretest

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	xdscreds "google.golang.org/grpc/credentials/xds"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/xds"

	"github.com/pilotlight/pilotlight/discovery/file"
	"github.com/pilotlight/pilotlight/translate/model"
	pxds "github.com/pilotlight/pilotlight/xds"
	"github.com/pilotlight/pilotlight/xds/bootstrap"
)

// pilotlight is a running control plane serving a config directory.
type pilotlight struct {
	addr     string
	dir      string
	server   *pxds.Server
	registry *prometheus.Registry
}

// startPilotlight serves dir (a temp directory the test writes into) on
// 127.0.0.1:0 until the test ends.
func startPilotlight(t *testing.T, dir string) *pilotlight {
	t.Helper()
	log := zaptest.NewLogger(t)
	reg := prometheus.NewRegistry()
	srv := pxds.NewServer(pxds.Options{
		Logger:      log,
		Debounce:    20 * time.Millisecond,
		DebounceMax: 200 * time.Millisecond,
		Registry:    reg,
	})
	g := grpc.NewServer(srv.ServerOptions()...)
	srv.Register(g)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); _ = g.Serve(lis) }()
	go func() { defer wg.Done(); _ = srv.Run(ctx) }()
	src := file.New(dir, file.Options{Logger: log, Mesh: model.DefaultMeshConfig(), DomainSuffix: "cluster.local"})
	go func() { defer wg.Done(); _ = src.Run(ctx, srv.Update) }()
	t.Cleanup(func() {
		cancel()
		g.Stop()
		wg.Wait()
	})
	return &pilotlight{addr: lis.Addr().String(), dir: dir, server: srv, registry: reg}
}

// write replaces one file of the config directory the way editors do:
// write a temp file, then rename it over the old one.
func (p *pilotlight) write(t *testing.T, name, body string) {
	t.Helper()
	tmp := filepath.Join(p.dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(p.dir, name)); err != nil {
		t.Fatal(err)
	}
}

// grpcBootstrap is what `pilotlight bootstrap --grpc` writes for a
// proxyless workload in namespace ns at ip.
func grpcBootstrap(t *testing.T, xdsAddr, pod, ns, ip string) []byte {
	t.Helper()
	return grpcBootstrapWithCerts(t, xdsAddr, pod, ns, ip, "")
}

// grpcBootstrapWithCerts is grpcBootstrap for a workload whose
// certificate files are in dir ("" for none), as `pilotlight bootstrap
// --grpc --cert-dir` writes it.
func grpcBootstrapWithCerts(t *testing.T, xdsAddr, pod, ns, ip, dir string) []byte {
	t.Helper()
	certs := bootstrap.CertificateFiles{Dir: dir}
	if dir != "" {
		certs.Refresh = time.Minute
	}
	b, err := bootstrap.GRPCWithCertificates(bootstrap.Node{
		ID:     fmt.Sprintf("sidecar~%s~%s.%s~%s.svc.cluster.local", ip, pod, ns, ns),
		Region: "r1",
		Zone:   "z1",
	}, xdsAddr, certs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// xdsClient dials target through pilotlight with grpc-go's xDS resolver.
func xdsClient(t *testing.T, p *pilotlight, ns, target string, opts ...grpc.DialOption) testgrpc.TestServiceClient {
	t.Helper()
	return xdsClientWithCerts(t, p, ns, target, "", opts...)
}

// xdsClientWithCerts is xdsClient for a client whose certificate files
// are in dir ("" for none): with xDS credentials, it uses TLS where
// pilotlight's clusters say so and plaintext elsewhere.
func xdsClientWithCerts(t *testing.T, p *pilotlight, ns, target, dir string, opts ...grpc.DialOption) testgrpc.TestServiceClient {
	t.Helper()
	builder, err := xds.NewXDSResolverWithConfigForTesting(grpcBootstrapWithCerts(t, p.addr, "client", ns, "127.0.0.100", dir))
	if err != nil {
		t.Fatal(err)
	}
	creds := insecure.NewCredentials()
	if dir != "" {
		if creds, err = xdscreds.NewClientCredentials(xdscreds.ClientOptions{FallbackCreds: insecure.NewCredentials()}); err != nil {
			t.Fatal(err)
		}
	}
	opts = append(opts, grpc.WithResolvers(builder), grpc.WithTransportCredentials(creds))
	cc, err := grpc.NewClient("xds:///"+target, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return testgrpc.NewTestServiceClient(cc)
}

// backend is a gRPC server that answers UnaryCall with its name, after
// running its behaviour, if any (to fail, stall or count calls).
type backend struct {
	testgrpc.UnimplementedTestServiceServer
	name string
	// version is the pod's version label (v1, v2...); empty for none.
	version string
	addr    *net.TCPAddr
	behave  func(ctx context.Context) error
}

func (b *backend) UnaryCall(ctx context.Context, _ *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	if b.behave != nil {
		if err := b.behave(ctx); err != nil {
			return nil, err
		}
	}
	return &testgrpc.SimpleResponse{Hostname: b.name}, nil
}

// startXDSServer serves a backend named name with xds.NewGRPCServer on
// lis, configured by bootstrap, and waits until pilotlight's listener has
// put it in SERVING.
func startXDSServer(t *testing.T, lis net.Listener, bootstrap []byte, name string, creds credentials.TransportCredentials) {
	t.Helper()
	serving := make(chan struct{})
	srv, err := xds.NewGRPCServer(
		grpc.Creds(creds),
		xds.BootstrapContentsForTesting(bootstrap),
		xds.ServingModeCallback(func(addr net.Addr, args xds.ServingModeChangeArgs) {
			t.Logf("server %v: mode %v (%v)", addr, args.Mode, args.Err)
			if args.Mode == connectivity.ServingModeServing {
				select {
				case <-serving:
				default:
					close(serving)
				}
			}
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	testgrpc.RegisterTestServiceServer(srv, &backend{name: name})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	select {
	case <-serving:
	case <-time.After(30 * time.Second):
		t.Fatal("xDS server never reached SERVING")
	}
}

// startBackend serves on ip:0 (any 127.0.0.0/8 address works on Linux).
func startBackend(t *testing.T, name, ip string) *backend {
	t.Helper()
	lis, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{name: name, addr: lis.Addr().(*net.TCPAddr)}
	s := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(s, b)
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	return b
}

// endpointSlices renders one EndpointSlice per backend (each backend has
// its own port) for service svc in ns, and for versioned backends the Pod
// whose labels (app, version) DestinationRule subsets select.
func endpointSlices(svc, ns, portName string, backends ...*backend) string {
	var docs []string
	for _, b := range backends {
		targetRef := ""
		if b.version != "" {
			targetRef = fmt.Sprintf("  targetRef: {kind: Pod, name: %s, namespace: %s}\n", b.name, ns)
			docs = append(docs, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
  namespace: %s
  labels: {app: %s, version: %s}
spec:
  containers: [{name: app, image: app}]
status:
  phase: Running
  podIP: %s
`, b.name, ns, svc, b.version, b.addr.IP))
		}
		docs = append(docs, fmt.Sprintf(`apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: %s-%s
  namespace: %s
  labels:
    kubernetes.io/service-name: %s
addressType: IPv4
ports:
- name: %s
  port: %d
endpoints:
- addresses: [%s]
  conditions: {ready: true}
%s`, svc, b.name, ns, svc, portName, b.addr.Port, b.addr.IP, targetRef))
	}
	return strings.Join(docs, "---\n")
}

// observe makes n calls and counts answers by backend name. Failed calls
// count under "error: CODE".
func observe(t *testing.T, c testgrpc.TestServiceClient, n int) map[string]int {
	t.Helper()
	return observeWith(t, c, n, nil)
}

// observeWith is observe with request headers (gRPC metadata).
func observeWith(t *testing.T, c testgrpc.TestServiceClient, n int, md metadata.MD) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for range n {
		seen[call(c, md)]++
	}
	return seen
}

// call makes one call and names its outcome: the backend, or
// "error: CODE".
func call(c testgrpc.TestServiceClient, md metadata.MD) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if md != nil {
		ctx = metadata.NewOutgoingContext(ctx, md)
	}
	resp, err := c.UnaryCall(ctx, &testgrpc.SimpleRequest{})
	if err != nil {
		return "error: " + status.Code(err).String()
	}
	return resp.GetHostname()
}

// eventually polls cond until it holds or the generous deadline passes,
// and returns how long it took.
func eventually(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 30s waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}
