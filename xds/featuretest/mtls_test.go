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

// A proxyless server under a STRICT PeerAuthentication refuses a
// plaintext client and serves one that presents a mesh certificate; the
// server's own certificate names its service account. Switching the
// policy to DISABLE serves plaintext again, so the refusal is the
// policy's doing.
func TestStrictPeerAuthenticationRefusesPlaintext(t *testing.T) {
	dir := t.TempDir()
	p := startPilotlight(t, dir)
	p.write(t, "greeter.yaml", greeterService)
	p.write(t, "policy.yaml", peerAuthentication("demo", "STRICT"))

	mesh := newMeshCA(t)
	serverCerts := mesh.issue(t, "demo", "greeter")
	clientCerts := mesh.issue(t, "demo", "client")
	serverID := spiffeid.RequireFromString("spiffe://cluster.local/ns/demo/sa/greeter")

	lis, err := net.Listen("tcp", "127.0.0.22:0")
	if err != nil {
		t.Fatal(err)
	}
	p.write(t, "endpoints.yaml", greeterEndpoints(lis))
	creds, err := xdscreds.NewServerCredentials(xdscreds.ServerOptions{FallbackCreds: insecure.NewCredentials()})
	if err != nil {
		t.Fatal(err)
	}
	startXDSServer(t, lis, grpcBootstrapWithCerts(t, p.addr, "greeter-0", "demo", "127.0.0.22", serverCerts), "greeter-0", creds)

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
