package kube

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	certutil "k8s.io/client-go/util/cert"

	"github.com/pilotlight/pilotlight/e2e/framework/agent"
	"github.com/pilotlight/pilotlight/e2e/framework/build"
	"github.com/pilotlight/pilotlight/e2e/framework/cluster"
	"github.com/pilotlight/pilotlight/e2e/framework/netns"
	"github.com/pilotlight/pilotlight/e2e/framework/wait"
	"github.com/pilotlight/pilotlight/e2e/framework/workload"
	"github.com/pilotlight/pilotlight/e2e/framework/xdsapp"
	"github.com/pilotlight/pilotlight/e2e/framework/xdsapp/wire"
)

// TestAgentProxyless: Istio's own pilot-agent, in proxyless mode against
// pilotlight's TLS port (CA and xDS), gets each workload a certificate
// for its SPIFFE id with the Pod's real projected token, writes it and the
// gRPC bootstrap, and a grpc-go client and xDS-enabled server, each
// configured only by its agent's bootstrap, complete calls through
// pilotlight's config relayed by the agents, in plaintext; an agent whose
// token proves another service account than it claims gets nothing. Once
// a STRICT PeerAuthentication applies, the server refuses plaintext
// clients; once an ISTIO_MUTUAL DestinationRule does too, calls are mutual
// TLS and each side sees the other's SPIFFE id; and under an
// AuthorizationPolicy that allows the client's principal, the client gets
// OK and a workload of another service account PermissionDenied.
func TestAgentProxyless(t *testing.T) {
	m := newAgentMesh(t)
	c := m.cluster
	server := m.pod(t, meshPodSpec{Name: "echo-v1", ServiceAccount: "echo", App: "echo"})
	client := m.pod(t, meshPodSpec{Name: "client-1", ServiceAccount: "client", App: "client"})
	for _, p := range []*meshPod{server, client} {
		checkWorkloadCert(t, p, m.root)
		checkAgentBootstrap(t, p)
	}
	c.WaitForEndpoints(t, meshNamespace, "echo", server.ns.Addr.String())
	srv := m.xdsServer(t, server)
	t.Logf("xDS server serving %v after start", srv.WaitServing(t).Round(time.Millisecond))

	echo := target(meshNamespace, "echo")
	took := m.waitForCall(t, client, echo, "a first call to succeed", func(r wire.Result) bool { return r.Code == "OK" })
	t.Logf("a first call succeeded within %v", took.Round(time.Millisecond))
	for i, r := range m.xdsCalls(t, client, echo, 3) {
		if r.Code != "OK" || r.Backend != "echo-v1" {
			t.Errorf("call %d: %s %s from %q, want OK from echo-v1", i, r.Code, r.Error, r.Backend)
		}
		// No PeerAuthentication and no DestinationRule: plaintext.
		if r.Security != wire.SecurityInsecure || r.SeenSecurity != wire.SecurityInsecure {
			t.Errorf("call %d: client saw %s, server saw %s, want plaintext on both sides", i, r.Security, r.SeenSecurity)
		}
	}
	// So far the server takes plaintext from anyone, xDS or not.
	if got, err := workload.Call(srv.Addr); err != nil || got != "echo-v1" {
		t.Errorf("plaintext call without xDS before STRICT: %q, %v; want an answer from echo-v1", got, err)
	}

	// The agents proved their Pods' identities with their tokens, on the
	// CA's calls and on their xDS streams to the same port; an agent
	// claiming a service account its token does not prove gets no
	// certificate.
	met := m.cp.metrics(t)
	if n := met.Sum("pilotlight_xds_authenticated_streams_total", "method", "kubernetes-token"); n < 2 {
		t.Errorf("%v xDS streams authenticated by token, want one per agent at least", n)
	}
	if n := met.Sum("pilotlight_xds_refused_streams_total"); n != 0 {
		t.Errorf("%v xDS streams refused, want none", n)
	}
	impostor := m.startAgent(t, meshPodSpec{Name: "impostor-1", ServiceAccount: "echo", App: "echo"}, m.network.Add(t), "client")
	wait.For(t, wait.Short, "the CA to refuse the impostor", func() error {
		if n := m.cp.metrics(t).Sum("pilotlight_ca_failures_total", "reason", "identity_mismatch"); n == 0 {
			return errors.New("no identity_mismatch counted")
		}
		return nil
	})
	if _, err := impostor.CertChain(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the impostor's agent wrote a certificate (%v)", err)
	}
	impostor.Process().Stop()

	// STRICT: the server takes mutual TLS only; plaintext clients, with
	// xDS or without, are refused.
	c.Apply(t, meshNamespace, []byte(strictPeerAuthentication))
	took = wait.For(t, wait.Long, "the server to refuse plaintext", refusesPlaintext(srv))
	t.Logf("server refuses plaintext %v after STRICT was applied", took.Round(time.Millisecond))
	for i, r := range m.xdsCalls(t, client, echo, 2) {
		if r.Code != codes.Unavailable.String() {
			t.Errorf("plaintext xDS call %d under STRICT: %+v, want Unavailable", i, r)
		}
	}

	// ISTIO_MUTUAL: the client originates mTLS, and each side sees the
	// other's certificate from pilotlight's CA, the very one its agent
	// wrote.
	c.Apply(t, meshNamespace, []byte(istioMutual))
	took = m.waitForCall(t, client, echo, "calls over mutual TLS", func(r wire.Result) bool { return r.Code == "OK" })
	t.Logf("calls succeed over mutual TLS %v after the DestinationRule was applied", took.Round(time.Millisecond))
	serverCert, clientCert := leaf(t, server), leaf(t, client)
	for i, r := range m.xdsCalls(t, client, echo, 3) {
		if r.Code != "OK" || r.Backend != "echo-v1" || r.Security != wire.SecurityTLS || r.SeenSecurity != wire.SecurityTLS {
			t.Errorf("mTLS call %d: %+v, want OK from echo-v1 over TLS", i, r)
			continue
		}
		if r.ServerID != server.spiffeID() || r.ServerSerial != wire.Serial(serverCert) {
			t.Errorf("mTLS call %d: client saw server %s serial %s, want %s serial %s", i, r.ServerID, r.ServerSerial, server.spiffeID(), wire.Serial(serverCert))
		}
		if r.SeenClientID != client.spiffeID() || r.SeenClientSerial != wire.Serial(clientCert) {
			t.Errorf("mTLS call %d: server saw client %s serial %s, want %s serial %s", i, r.SeenClientID, r.SeenClientSerial, client.spiffeID(), wire.Serial(clientCert))
		}
	}

	// AuthorizationPolicy: the server lets only the client's principal
	// in; a workload of another service account is denied.
	other := m.pod(t, meshPodSpec{Name: "other-1", ServiceAccount: "other", App: "other"})
	c.Apply(t, meshNamespace, []byte(allowClient))
	took = m.waitForCall(t, other, echo, "the other workload to be denied", func(r wire.Result) bool {
		return r.Code == codes.PermissionDenied.String()
	})
	t.Logf("other workload denied %v after the AuthorizationPolicy was applied", took.Round(time.Millisecond))
	for i, r := range m.xdsCalls(t, client, echo, 2) {
		if r.Code != "OK" || r.SeenClientID != client.spiffeID() {
			t.Errorf("allowed call %d: %+v, want OK from %s", i, r, client.spiffeID())
		}
	}
	for i, r := range m.xdsCalls(t, other, echo, 2) {
		if r.Code != codes.PermissionDenied.String() {
			t.Errorf("call %d from %s: %+v, want PermissionDenied", i, other.spiffeID(), r)
		}
	}
}

// istioMutual makes clients of echo originate Istio mTLS to it.
const istioMutual = `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: echo
spec:
  host: echo.mesh.svc.cluster.local
  trafficPolicy:
    tls:
      mode: ISTIO_MUTUAL
`

// allowClient lets only workloads of service account client call echo.
const allowClient = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: echo
spec:
  selector:
    matchLabels:
      app: echo
  action: ALLOW
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/mesh/sa/client"]
`

// leaf is the certificate a workload's agent wrote last.
func leaf(t *testing.T, p *meshPod) *x509.Certificate {
	t.Helper()
	chain, err := p.agent.CertChain()
	if err != nil {
		t.Fatal(err)
	}
	return chain[0]
}

// refusesPlaintext returns nil once a plaintext call to the server,
// without xDS, is refused.
func refusesPlaintext(srv *xdsapp.Server) func() error {
	return func() error {
		if got, err := workload.Call(srv.Addr); status.Code(err) != codes.Unavailable {
			return fmt.Errorf("a plaintext call got %q, %v; want Unavailable", got, err)
		}
		return nil
	}
}

// strictPeerAuthentication makes every workload of the namespace accept
// only mutual TLS.
const strictPeerAuthentication = `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
spec:
  mtls:
    mode: STRICT
`

// checkWorkloadCert fails the test unless the agent wrote a certificate
// for its workload's SPIFFE id, for client and server authentication,
// that chains to the CA root.
func checkWorkloadCert(t *testing.T, p *meshPod, root *x509.Certificate) {
	t.Helper()
	chain, err := p.agent.CertChain()
	if err != nil {
		t.Fatal(err)
	}
	leaf := chain[0]
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != p.spiffeID() {
		t.Errorf("%s: certificate URIs %v, want [%s]", p.name, leaf.URIs, p.spiffeID())
	}
	roots := x509.NewCertPool()
	roots.AddCert(root)
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			t.Errorf("%s: certificate does not chain to the CA root for %v: %v", p.name, usage, err)
		}
	}
	written, err := certutil.CertsFromFile(filepath.Join(p.agent.CertDir, agent.RootCertFile))
	if err != nil || len(written) != 1 || !root.Equal(written[0]) {
		t.Errorf("%s: %s is not the CA root (%v)", p.name, agent.RootCertFile, err)
	}
}

// checkAgentBootstrap fails the test unless the agent's gRPC bootstrap
// points the application at the agent's xDS proxy, as the workload's
// node, with its certificate files as the "default" provider.
func checkAgentBootstrap(t *testing.T, p *meshPod) {
	t.Helper()
	b, err := os.ReadFile(p.agent.BootstrapPath)
	if err != nil {
		t.Fatal(err)
	}
	var boot struct {
		XDSServers []struct {
			ServerURI string `json:"server_uri"`
		} `json:"xds_servers"`
		Node struct {
			ID       string         `json:"id"`
			Metadata map[string]any `json:"metadata"`
		} `json:"node"`
		CertificateProviders map[string]struct {
			PluginName string `json:"plugin_name"`
			Config     struct {
				CertificateFile string `json:"certificate_file"`
			} `json:"config"`
		} `json:"certificate_providers"`
	}
	if err := json.Unmarshal(b, &boot); err != nil {
		t.Fatalf("%s: %v", p.agent.BootstrapPath, err)
	}
	if len(boot.XDSServers) != 1 || !strings.HasPrefix(boot.XDSServers[0].ServerURI, "unix:") {
		t.Errorf("%s: bootstrap xds_servers %+v, want the agent's Unix socket", p.name, boot.XDSServers)
	}
	wantID := fmt.Sprintf("sidecar~%s~%s.%s~%s.svc.cluster.local", p.ns.Addr, p.name, p.namespace, p.namespace)
	if boot.Node.ID != wantID || boot.Node.Metadata["GENERATOR"] != "grpc" || boot.Node.Metadata["SERVICE_ACCOUNT"] != p.serviceAccount {
		t.Errorf("%s: bootstrap node %s with GENERATOR %v, SERVICE_ACCOUNT %v; want %s, grpc, %s",
			p.name, boot.Node.ID, boot.Node.Metadata["GENERATOR"], boot.Node.Metadata["SERVICE_ACCOUNT"], wantID, p.serviceAccount)
	}
	// The Pod's address and none of the host's (excludeInterfaces).
	if ips := boot.Node.Metadata["INSTANCE_IPS"]; ips != p.ns.Addr.String() {
		t.Errorf("%s: bootstrap node INSTANCE_IPS %v, want only the Pod's address %s", p.name, ips, p.ns.Addr)
	}
	prov := boot.CertificateProviders["default"]
	if prov.PluginName != "file_watcher" || prov.Config.CertificateFile != filepath.Join(p.agent.CertDir, agent.CertChainFile) {
		t.Errorf("%s: certificate provider %+v, want file_watcher over %s", p.name, prov, p.agent.CertDir)
	}
}

// caRoot waits for the CA root pilotlight keeps in
// istio-system/istio-ca-secret and returns it, parsed and as PEM.
func caRoot(t testing.TB, c *cluster.Cluster) (*x509.Certificate, []byte) {
	t.Helper()
	var root *x509.Certificate
	var rootPEM []byte
	wait.For(t, wait.Short, "the CA root in istio-system/istio-ca-secret", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, err := c.Kube.CoreV1().Secrets("istio-system").Get(ctx, "istio-ca-secret", metav1.GetOptions{})
		if err != nil {
			return err
		}
		rootPEM = s.Data["ca-cert.pem"]
		certs, err := certutil.ParseCertsPEM(rootPEM)
		if err != nil {
			return fmt.Errorf("ca-cert.pem: %w", err)
		}
		root = certs[0]
		return nil
	})
	return root, rootPEM
}

// servingName is the name pilotlight's TLS port presents and its clients
// dial it by: istiod's, as in a cluster.
const servingName = "istiod.istio-system.svc"

// secureCreds waits for the CA root and returns a pool of it and the
// credentials that dial pilotlight's TLS port trusting it.
func secureCreds(t testing.TB, c *cluster.Cluster) (*x509.CertPool, grpc.DialOption) {
	t.Helper()
	root, _ := caRoot(t, c)
	roots := x509.NewCertPool()
	roots.AddCert(root)
	return roots, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
		RootCAs: roots, ServerName: servingName, MinVersion: tls.VersionTLS12,
	}))
}

// meshNamespace holds the workloads of the pilot-agent tests.
const meshNamespace = "mesh"

// agentMesh is what the pilot-agent tests start from: namespace
// meshNamespace with Node node-a, pilotlight with its CA, and Service echo
// selecting app=echo.
type agentMesh struct {
	*env
	cp *controlPlane
	// root is the CA's root, rootPEM the same as PEM.
	root    *x509.Certificate
	rootPEM []byte
}

// newAgentMesh starts the setup with pilotlight's serve flags args.
func newAgentMesh(t *testing.T, args ...string) *agentMesh {
	t.Helper()
	e := newEnv(t)
	c := e.cluster
	c.CreateNamespace(t, meshNamespace, nil)
	c.CreateNode(t, "node-a", "region-1", "zone-a")
	m := &agentMesh{env: e, cp: e.startPilotlight(t, args...)}
	m.root, m.rootPEM = caRoot(t, c)
	c.CreateService(t, grpcService(meshNamespace, "echo", "echo"))
	return m
}

// meshPodSpec describes a proxyless workload of meshNamespace.
type meshPodSpec struct {
	Name, ServiceAccount string
	// App is its app label, which Services select.
	App string
	// AgentEnv is added to its agent's environment.
	AgentEnv []string
}

// meshPod is a proxyless workload as Istio's grpc-agent template makes
// it: a Pod with a network namespace of its own, a ServiceAccount, and
// pilot-agent holding its certificate and relaying its xDS.
type meshPod struct {
	name, namespace, serviceAccount string
	ns                              *netns.Namespace
	agent                           *agent.Agent
}

func (p *meshPod) spiffeID() string {
	return "spiffe://cluster.local/ns/" + p.namespace + "/sa/" + p.serviceAccount
}

// pod creates the workload's ServiceAccount and Pod (on node-a, with the
// gRPC container port), then starts its agent against pilotlight's TLS
// port with a fresh projected token and waits until it is ready.
func (m *agentMesh) pod(t *testing.T, spec meshPodSpec) *meshPod {
	t.Helper()
	c := m.cluster
	c.CreateServiceAccount(t, meshNamespace, spec.ServiceAccount)
	ns := m.network.Add(t)
	labels := map[string]string{"app": spec.App}
	c.CreatePod(t, cluster.Pod{
		Namespace: meshNamespace, Name: spec.Name, Node: "node-a", Labels: labels,
		IPs:            []string{ns.Addr.String()},
		Ports:          []corev1.ContainerPort{{Name: workload.PortName, ContainerPort: workload.Port, Protocol: corev1.ProtocolTCP}},
		ServiceAccount: spec.ServiceAccount,
	})
	a := m.startAgent(t, spec, ns, spec.ServiceAccount)
	t.Logf("pilot-agent of %s/%s ready (certificate written) %v after start", meshNamespace, spec.Name, a.WaitReady(t).Round(time.Millisecond))
	return &meshPod{name: spec.Name, namespace: meshNamespace, serviceAccount: spec.ServiceAccount, ns: ns, agent: a}
}

// startAgent starts the agent of a workload in ns, against pilotlight's
// TLS port, with a fresh projected token for tokenAccount: the workload's
// own service account, unless the test makes the agent lie.
func (m *agentMesh) startAgent(t *testing.T, spec meshPodSpec, ns *netns.Namespace, tokenAccount string) *agent.Agent {
	t.Helper()
	return agent.Start(t, m.bins.Path(build.PilotAgent), m.cluster.Dir, agent.Spec{
		Namespace: meshNamespace, Pod: spec.Name, ServiceAccount: spec.ServiceAccount,
		Labels:       map[string]string{"app": spec.App},
		IP:           ns.Addr.String(),
		ControlPlane: m.cp.SecureAddr,
		ServerName:   servingName,
		RootCert:     m.rootPEM,
		// As the kubelet projects it for Istio's injection templates.
		Token: m.cluster.ServiceAccountToken(t, meshNamespace, tokenAccount, time.Hour, "istio-ca"),
		Env:   spec.AgentEnv,
	})
}

// xdsServer runs the proxyless server of a workload in its network
// namespace on the workload port, configured by its agent's bootstrap.
func (e *env) xdsServer(t *testing.T, p *meshPod) *xdsapp.Server {
	t.Helper()
	return xdsapp.StartServer(t, e.bins.Path(build.XDSApp), e.cluster.Dir, p.ns, p.agent.BootstrapPath, p.name, workload.Port)
}

// waitForCall calls target from a workload, one call per client process,
// until a call's result is ok, and returns how long that took.
func (m *agentMesh) waitForCall(t *testing.T, p *meshPod, target, what string, ok func(wire.Result) bool) time.Duration {
	t.Helper()
	return wait.For(t, wait.Long, what, func() error {
		if r := m.xdsCalls(t, p, target, 1)[0]; !ok(r) {
			return fmt.Errorf("last call: %+v", r)
		}
		return nil
	})
}

// xdsCalls makes count calls to target from a workload's network
// namespace, configured by its agent's bootstrap.
func (e *env) xdsCalls(t *testing.T, p *meshPod, target string, count int) []wire.Result {
	t.Helper()
	return xdsapp.Call(t, e.bins.Path(build.XDSApp), e.cluster.Dir, p.ns, p.agent.BootstrapPath, target, count)
}
