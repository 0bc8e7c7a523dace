package featuretest

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
)

const greeterService = `apiVersion: v1
kind: Namespace
metadata:
  name: demo
---
apiVersion: v1
kind: Service
metadata:
  name: greeter
  namespace: demo
spec:
  clusterIP: 10.96.0.10
  ports:
  - name: grpc
    port: 7070
`

// greeterEndpoints is an EndpointSlice putting the one address lis
// listens on behind greeter's grpc port.
func greeterEndpoints(lis net.Listener) string {
	addr := lis.Addr().(*net.TCPAddr)
	return fmt.Sprintf(`apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: greeter-xds
  namespace: demo
  labels:
    kubernetes.io/service-name: greeter
addressType: IPv4
ports:
- name: grpc
  port: %d
endpoints:
- addresses: [%s]
`, addr.Port, addr.IP)
}

// A grpc-go xDS client reaches every backend of a service through
// pilotlight; editing the EndpointSlice file moves traffic without a
// restart; a broken file leaves traffic flowing.
func TestClientFollowsEndpointSlices(t *testing.T) {
	dir := t.TempDir()
	b1 := startBackend(t, "b1", "127.0.0.11")
	b2 := startBackend(t, "b2", "127.0.0.12")
	b3 := startBackend(t, "b3", "127.0.0.13")
	p := startPilotlight(t, dir)
	p.write(t, "greeter.yaml", greeterService)
	p.write(t, "endpoints.yaml", endpointSlices("greeter", "demo", "grpc", b1, b2, b3))

	// A short name from the service's own namespace, as an app would dial.
	client := xdsClient(t, p, "demo", "greeter:7070")
	eventually(t, "traffic to all three backends", func() bool {
		seen := observe(t, client, 30)
		return seen["b1"] > 0 && seen["b2"] > 0 && seen["b3"] > 0
	})

	// Take b3 out of the slice file: traffic must stop reaching it.
	p.write(t, "endpoints.yaml", endpointSlices("greeter", "demo", "grpc", b1, b2))
	took := eventually(t, "b3 to stop receiving traffic", func() bool {
		seen := observe(t, client, 20)
		return seen["b3"] == 0 && seen["b1"] > 0 && seen["b2"] > 0
	})
	t.Logf("endpoint removal reached the client in %v (file write to a clean window of 20 RPCs)", took)

	// A broken file is reported and skipped; what was served keeps working.
	p.write(t, "broken.yaml", "apiVersion: v1\nkind: Service\nmetadata: [this is not a map\n")
	time.Sleep(300 * time.Millisecond) // Give a wrong reload the chance to break things.
	if seen := observe(t, client, 20); seen["b1"]+seen["b2"] != 20 {
		t.Fatalf("traffic after a broken file: %v", seen)
	}
	eventually(t, "the broken file to be reported", func() bool { return len(p.server.Problems()) > 0 })

	// And an edit next to the broken file still applies.
	p.write(t, "endpoints.yaml", endpointSlices("greeter", "demo", "grpc", b3))
	eventually(t, "traffic to move to b3 only", func() bool {
		seen := observe(t, client, 10)
		return seen["b3"] == 10
	})
}

// A server started with xds.NewGRPCServer gets its listener from pilotlight,
// reaches SERVING and answers RPCs.
func TestProxylessServerServes(t *testing.T) {
	dir := t.TempDir()
	p := startPilotlight(t, dir)
	p.write(t, "greeter.yaml", greeterService)

	lis, err := net.Listen("tcp", "127.0.0.21:0")
	if err != nil {
		t.Fatal(err)
	}
	p.write(t, "endpoints.yaml", greeterEndpoints(lis))

	startXDSServer(t, lis, grpcBootstrap(t, p.addr, "greeter-0", "demo", "127.0.0.21"), "xds-server", insecure.NewCredentials())

	// Reach it both directly and through an xDS client.
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := testgrpc.NewTestServiceClient(cc).UnaryCall(ctx, &testgrpc.SimpleRequest{}, grpc.WaitForReady(true))
	if err != nil || resp.GetHostname() != "xds-server" {
		t.Fatalf("direct call: %v %v", resp, err)
	}
	client := xdsClient(t, p, "default", "greeter.demo.svc.cluster.local:7070")
	eventually(t, "an xDS client to reach the xDS server", func() bool {
		return observe(t, client, 5)["xds-server"] == 5
	})
}
