package featuretest

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	xdscreds "google.golang.org/grpc/credentials/xds"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// A proxyless server under STRICT mTLS and an ALLOW policy for one
// principal answers that principal's client and refuses another's with
// PermissionDenied; turned into a DENY policy for the same principal, the
// decisions swap, so they are the policy's doing. The principal is the
// one in each client's certificate, issued by pilotlight's CA.
func TestAuthorizationPolicyByPrincipal(t *testing.T) {
	dir := t.TempDir()
	p := startPilotlight(t, dir)
	p.write(t, "greeter.yaml", greeterService)
	p.write(t, "peer.yaml", peerAuthentication("demo", "STRICT"))
	p.write(t, "authz.yaml", `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: greeter
  namespace: demo
spec:
  rules:
  - from:
    - source:
        principals: [cluster.local/ns/web/sa/frontend]
`)

	mesh := newMeshCA(t)
	serverCerts := mesh.issue(t, "demo", "greeter")
	serverID := spiffeid.RequireFromString("spiffe://cluster.local/ns/demo/sa/greeter")
	lis, err := net.Listen("tcp", "127.0.0.23:0")
	if err != nil {
		t.Fatal(err)
	}
	p.write(t, "endpoints.yaml", greeterEndpoints(lis))
	creds, err := xdscreds.NewServerCredentials(xdscreds.ServerOptions{FallbackCreds: insecure.NewCredentials()})
	if err != nil {
		t.Fatal(err)
	}
	startXDSServer(t, lis, grpcBootstrapWithCerts(t, p.addr, "greeter-0", "demo", "127.0.0.23", serverCerts), "greeter-0", creds)

	client := func(ns, sa string) testgrpc.TestServiceClient {
		tlsConfig := mesh.tlsConfig(t, mesh.issue(t, ns, sa), serverID)
		cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(tlsConfig)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cc.Close() })
		return testgrpc.NewTestServiceClient(cc)
	}
	frontend, batch := client("web", "frontend"), client("web", "batch")

	if got := call(frontend, nil); got != "greeter-0" {
		t.Errorf("the allowed principal: %s, want greeter-0", got)
	}
	if got := call(batch, nil); got != "error: PermissionDenied" {
		t.Errorf("another principal: %s, want error: PermissionDenied", got)
	}

	p.write(t, "authz.yaml", `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: greeter
  namespace: demo
spec:
  action: DENY
  rules:
  - from:
    - source:
        principals: [cluster.local/ns/web/sa/frontend]
`)
	eventually(t, "a DENY policy to refuse the principal and let the other in", func() bool {
		return call(frontend, nil) == "error: PermissionDenied" && call(batch, nil) == "greeter-0"
	})

	// Request attributes gRPC checks: an ALLOW on the service's methods
	// by namespace glob and port, a DENY on a header, and a CUSTOM policy
	// (gRPC cannot ask its provider, so what it matches is denied).
	port := strconv.Itoa(lis.Addr().(*net.TCPAddr).Port)
	p.write(t, "authz.yaml", `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: greeter
  namespace: demo
spec:
  rules:
  - from:
    - source:
        namespaces: ["we*"]
        notPrincipals: [cluster.local/ns/web/sa/batch]
    to:
    - operation:
        paths: [/grpc.testing.TestService/*]
        methods: [POST]
        hosts: ["*"]
        ports: ["`+port+`"]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: blocked
  namespace: demo
spec:
  action: DENY
  rules:
  - when:
    - key: request.headers[x-block]
      values: ["yes"]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: external
  namespace: demo
spec:
  action: CUSTOM
  provider: {name: nowhere}
  rules:
  - to:
    - operation:
        paths: ["*/EmptyCall"]
`)
	eventually(t, "the request-attribute policies", func() bool {
		return call(frontend, nil) == "greeter-0" && call(batch, nil) == "error: PermissionDenied" &&
			call(frontend, metadata.Pairs("x-block", "yes")) == "error: PermissionDenied"
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := frontend.EmptyCall(ctx, &testgrpc.Empty{}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("EmptyCall under a CUSTOM policy gRPC cannot carry out: %v, want PermissionDenied", err)
	}
}
