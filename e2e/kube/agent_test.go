package kube

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
// pilotlight's config relayed by the agents, in plaintext; once a STRICT
// PeerAuthentication applies, the server refuses plaintext clients.
func TestAgentProxyless(t *testing.T) {
	e := newEnv(t)
	c := e.cluster
	c.CreateNamespace(t, "mesh", nil)
	c.CreateNode(t, "node-a", "region-1", "zone-a")
	cp := e.startPilotlight(t)
	root, rootPEM := caRoot(t, c)

	server := e.meshPod(t, cp, rootPEM, meshPodSpec{Namespace: "mesh", Name: "echo-v1", ServiceAccount: "echo", App: "echo"})
	client := e.meshPod(t, cp, rootPEM, meshPodSpec{Namespace: "mesh", Name: "client-1", ServiceAccount: "client", App: "client"})
	for _, p := range []*meshPod{server, client} {
		checkWorkloadCert(t, p, root)
		checkAgentBootstrap(t, p)
	}

	c.CreateService(t, grpcService("mesh", "echo", "echo"))
	c.WaitForEndpoints(t, "mesh", "echo", server.ns.Addr.String())
	srv := e.xdsServer(t, server)
	t.Logf("xDS server serving %v after start", srv.WaitServing(t).Round(time.Millisecond))

	echo := target("mesh", "echo")
	for i, r := range e.xdsCalls(t, client, echo, 3) {
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

	// STRICT: the server takes mutual TLS only; plaintext clients, with
	// xDS or without, are refused.
	c.Apply(t, "mesh", []byte(strictPeerAuthentication))
	took := wait.For(t, wait.Long, "the server to refuse plaintext", func() error {
		if got, err := workload.Call(srv.Addr); status.Code(err) != codes.Unavailable {
			return fmt.Errorf("a plaintext call got %q, %v; want Unavailable", got, err)
		}
		return nil
	})
	t.Logf("server refuses plaintext %v after STRICT was applied", took.Round(time.Millisecond))
	for i, r := range e.xdsCalls(t, client, echo, 2) {
		if r.Code != codes.Unavailable.String() {
			t.Errorf("plaintext xDS call %d under STRICT: %+v, want Unavailable", i, r)
		}
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
	b, err := os.ReadFile(filepath.Join(p.agent.CertDir, agent.RootCertFile))
	if err != nil {
		t.Fatal(err)
	}
	if block, _ := pem.Decode(b); block == nil || !root.Equal(mustParse(t, block.Bytes)) {
		t.Errorf("%s: %s is not the CA root", p.name, agent.RootCertFile)
	}
}

func mustParse(t *testing.T, der []byte) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
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
		block, _ := pem.Decode(rootPEM)
		if block == nil {
			return errors.New("no ca-cert.pem")
		}
		root, err = x509.ParseCertificate(block.Bytes)
		return err
	})
	return root, rootPEM
}

// meshPodSpec describes a proxyless workload.
type meshPodSpec struct {
	Namespace, Name, ServiceAccount string
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

// meshPod creates the workload's ServiceAccount and Pod (on node-a, which
// must exist, with the gRPC container port), then starts its agent
// against pilotlight's TLS port with a fresh projected token and waits
// until it is ready.
func (e *env) meshPod(t *testing.T, cp *controlPlane, rootPEM []byte, spec meshPodSpec) *meshPod {
	t.Helper()
	c := e.cluster
	c.CreateServiceAccount(t, spec.Namespace, spec.ServiceAccount)
	ns := e.network.Add(t)
	labels := map[string]string{"app": spec.App}
	c.CreatePod(t, cluster.Pod{
		Namespace: spec.Namespace, Name: spec.Name, Node: "node-a", Labels: labels,
		IPs:            []string{ns.Addr.String()},
		Ports:          []corev1.ContainerPort{{Name: workload.PortName, ContainerPort: workload.Port, Protocol: corev1.ProtocolTCP}},
		ServiceAccount: spec.ServiceAccount,
	})
	a := agent.Start(t, e.bins.Path(build.PilotAgent), c.Dir, agent.Spec{
		Namespace: spec.Namespace, Pod: spec.Name, ServiceAccount: spec.ServiceAccount,
		Labels:       labels,
		IP:           ns.Addr.String(),
		ControlPlane: cp.SecureAddr,
		ServerName:   "istiod.istio-system.svc",
		RootCert:     rootPEM,
		// As the kubelet projects it for Istio's injection templates.
		Token: c.ServiceAccountToken(t, spec.Namespace, spec.ServiceAccount, time.Hour, "istio-ca"),
		Env:   spec.AgentEnv,
	})
	t.Logf("pilot-agent of %s/%s ready (certificate written) %v after start", spec.Namespace, spec.Name, a.WaitReady(t).Round(time.Millisecond))
	return &meshPod{name: spec.Name, namespace: spec.Namespace, serviceAccount: spec.ServiceAccount, ns: ns, agent: a}
}

// xdsServer runs the proxyless server of a workload in its network
// namespace on the workload port, configured by its agent's bootstrap.
func (e *env) xdsServer(t *testing.T, p *meshPod) *xdsapp.Server {
	t.Helper()
	return xdsapp.StartServer(t, e.bins.Path(build.XDSApp), e.cluster.Dir, p.ns, p.agent.BootstrapPath, p.name, workload.Port)
}

// xdsCalls makes count calls to target from a workload's network
// namespace, configured by its agent's bootstrap.
func (e *env) xdsCalls(t *testing.T, p *meshPod, target string, count int) []wire.Result {
	t.Helper()
	return xdsapp.Call(t, e.bins.Path(build.XDSApp), e.cluster.Dir, p.ns, p.agent.BootstrapPath, target, count)
}
