package featuretest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	xdscreds "google.golang.org/grpc/credentials/xds"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"

	"github.com/pilotlight/pilotlight/ca"
	"github.com/pilotlight/pilotlight/xds/bootstrap"
)

// meshCA is pilotlight's CA with a fresh root, issuing workload
// certificates into directories laid out as pilot-agent writes them for
// proxyless gRPC.
type meshCA struct {
	authority *ca.Authority
}

func newMeshCA(t *testing.T) *meshCA {
	t.Helper()
	td := spiffeid.RequireTrustDomainFromString("cluster.local")
	root, err := ca.NewSelfSignedRoot(ca.RootOptions{TrustDomain: td})
	if err != nil {
		t.Fatal(err)
	}
	m, err := ca.ParseMaterial(root, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	a, err := ca.New(m, ca.Options{TrustDomain: td})
	if err != nil {
		t.Fatal(err)
	}
	return &meshCA{authority: a}
}

// issue writes the certificate files istio-agent writes (chain, key,
// root) for the service account ns/sa into a new directory and returns
// it.
func (c *meshCA) issue(t *testing.T, ns, sa string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := ca.WorkloadID(c.authority.TrustDomain(), ns, sa)
	if err != nil {
		t.Fatal(err)
	}
	issued, err := c.authority.SignWorkload(&x509.CertificateRequest{PublicKey: key.Public()}, id, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, body := range map[string][]byte{
		bootstrap.CertChainFile: []byte(strings.Join(issued.ChainPEM, "")),
		bootstrap.KeyFile:       pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		bootstrap.RootCertFile:  c.authority.Material().RootsPEM(),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// tlsConfig is a client's TLS config that presents the certificate in
// dir and accepts a server whose certificate chains to the mesh root and
// names want, the way Istio peers check each other (by SPIFFE id, not by
// host name).
func (c *meshCA) tlsConfig(t *testing.T, dir string, want spiffeid.ID) *tls.Config {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, bootstrap.CertChainFile), filepath.Join(dir, bootstrap.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	roots := c.authority.Material().RootPool()
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		// Verified below: a SPIFFE certificate has no host name to check.
		InsecureSkipVerify: true, //nolint:gosec // VerifyPeerCertificate checks chain and identity.
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			leaf, err := x509.ParseCertificate(raw[0])
			if err != nil {
				return err
			}
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
				return err
			}
			if len(leaf.URIs) != 1 || leaf.URIs[0].String() != want.String() {
				return fmt.Errorf("server is %v, want %s", leaf.URIs, want)
			}
			return nil
		},
	}
}

func peerAuthentication(ns, mode string) string {
	return fmt.Sprintf(`apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: %s
spec:
  mtls:
    mode: %s
`, ns, mode)
}

// strictGreeter serves greeter-0 as an xDS-enabled server on ip, with a
// certificate for demo/greeter from a fresh mesh CA, under a STRICT
// PeerAuthentication for demo; endpoints renders what puts it behind
// greeter.
func strictGreeter(t *testing.T, ip string, endpoints func(net.Listener) string) (*pilotlight, *meshCA, net.Listener) {
	t.Helper()
	p := startPilotlight(t, t.TempDir())
	p.write(t, "greeter.yaml", greeterService)
	p.write(t, "policy.yaml", peerAuthentication("demo", "STRICT"))
	mesh := newMeshCA(t)
	lis, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	p.write(t, "endpoints.yaml", endpoints(lis))
	creds, err := xdscreds.NewServerCredentials(xdscreds.ServerOptions{FallbackCreds: insecure.NewCredentials()})
	if err != nil {
		t.Fatal(err)
	}
	startXDSServer(t, lis, grpcBootstrapWithCerts(t, p.addr, "greeter-0", "demo", ip, mesh.issue(t, "demo", "greeter")), "greeter-0", creds)
	return p, mesh, lis
}

// A proxyless server under a STRICT PeerAuthentication refuses a
// plaintext client and serves one that presents a mesh certificate; the
// server's own certificate names its service account. Switching the
// policy to DISABLE serves plaintext again, so the refusal is the
// policy's doing.
func TestStrictPeerAuthenticationRefusesPlaintext(t *testing.T) {
	p, mesh, lis := strictGreeter(t, "127.0.0.22", greeterEndpoints)
	clientCerts := mesh.issue(t, "demo", "client")
	serverID := spiffeid.RequireFromString("spiffe://cluster.local/ns/demo/sa/greeter")

	dial := func(c credentials.TransportCredentials) testgrpc.TestServiceClient {
		cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(c))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cc.Close() })
		return testgrpc.NewTestServiceClient(cc)
	}
	plaintext := dial(insecure.NewCredentials())
	mutual := dial(credentials.NewTLS(mesh.tlsConfig(t, clientCerts, serverID)))

	if got := call(plaintext, nil); got != "error: Unavailable" {
		t.Errorf("plaintext call to a STRICT server: %s, want error: Unavailable", got)
	}
	if got := call(mutual, nil); got != "greeter-0" {
		t.Errorf("mTLS call to a STRICT server: %s, want greeter-0", got)
	}
	// Without a client certificate the handshake fails too.
	oneWay := mesh.tlsConfig(t, clientCerts, serverID)
	oneWay.Certificates = nil
	if got := call(dial(credentials.NewTLS(oneWay)), nil); got != "error: Unavailable" {
		t.Errorf("TLS call without a client certificate: %s, want error: Unavailable", got)
	}

	p.write(t, "policy.yaml", peerAuthentication("demo", "DISABLE"))
	eventually(t, "a DISABLE policy to serve plaintext", func() bool {
		return call(plaintext, nil) == "greeter-0"
	})
}

// destinationRuleTLS is a DestinationRule for greeter with ISTIO_MUTUAL
// and, if any, these SANs.
func destinationRuleTLS(sans ...string) string {
	dr := `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: greeter
  namespace: demo
spec:
  host: greeter.demo.svc.cluster.local
  trafficPolicy:
    tls:
      mode: ISTIO_MUTUAL
`
	if len(sans) > 0 {
		dr += "      subjectAltNames: [" + strings.Join(sans, ", ") + "]\n"
	}
	return dr
}

// A proxyless client reaches a STRICT proxyless server through a
// DestinationRule with ISTIO_MUTUAL, checking the server's identity
// against the service account of the Pod behind the endpoint; a rule
// that names another identity makes a client fail, and without a rule it
// speaks plaintext and is refused (no automatic mTLS for gRPC).
func TestIstioMutualDestinationRuleForProxylessClients(t *testing.T) {
	// The endpoint names its Pod, whose service account is greeter.
	p, mesh, _ := strictGreeter(t, "127.0.0.24", func(lis net.Listener) string {
		return greeterEndpoints(lis) + "  targetRef: {kind: Pod, name: greeter-0, namespace: demo}\n" + `---
apiVersion: v1
kind: Pod
metadata:
  name: greeter-0
  namespace: demo
  labels: {app: greeter}
spec:
  serviceAccountName: greeter
  containers: [{name: app, image: app}]
status:
  phase: Running
  podIP: 127.0.0.24
`
	})
	clientCerts := mesh.issue(t, "web", "frontend")
	client := xdsClientWithCerts(t, p, "web", "greeter.demo.svc.cluster.local:7070", clientCerts)
	eventually(t, "a plaintext xDS client to be refused", func() bool { return call(client, nil) == "error: Unavailable" })

	p.write(t, "rule.yaml", destinationRuleTLS())
	eventually(t, "ISTIO_MUTUAL to reach the STRICT server", func() bool { return call(client, nil) == "greeter-0" })

	// SANs are checked at the handshake: a new channel sees the new rule.
	p.write(t, "rule.yaml", destinationRuleTLS("spiffe://cluster.local/ns/demo/sa/impostor"))
	eventually(t, "a server with another identity to be refused", func() bool {
		return call(xdsClientWithCerts(t, p, "web", "greeter.demo.svc.cluster.local:7070", clientCerts), nil) == "error: Unavailable"
	})
}
