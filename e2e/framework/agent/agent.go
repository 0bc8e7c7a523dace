// Package agent runs Istio's pilot-agent (istio-agent, built by package
// build from e2e/tools/istio) for a proxyless gRPC workload of an
// end-to-end test, the way Istio's grpc-agent injection template runs it
// next to the application: no Envoy, a certificate fetched from the
// control plane's CA with the Pod's projected service account token and
// written to files, and a gRPC xDS bootstrap whose server is the agent's
// own xDS proxy on a Unix socket. The application (a subprocess in the
// Pod's network namespace) reads that bootstrap; the Unix socket reaches
// the agent from any network namespace.
//
// The agent runs on the host, in a temporary directory that stands for
// the container's file system: Istio's default paths (the token, the Pod
// labels and annotations, the xDS socket) are relative, and nothing needs
// root. It advertises the Pod's address (INSTANCE_IP) and, through the
// excludeInterfaces annotation, none of the host's own.
package agent

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	certutil "k8s.io/client-go/util/cert"

	"github.com/pilotlight/pilotlight/e2e/framework/ports"
	"github.com/pilotlight/pilotlight/e2e/framework/proc"
	"github.com/pilotlight/pilotlight/e2e/framework/wait"
)

// Files the agent writes into CertDir, named as istio-agent names them
// (its gRPC bootstrap's file_watcher provider points at them).
const (
	CertChainFile = "cert-chain.pem"
	KeyFile       = "key.pem"
	RootCertFile  = "root-cert.pem"
)

// rootCertPath is where the control plane's root is mounted, relative to
// the agent's working directory, as the injection template mounts
// ConfigMap istio-ca-root-cert.
const rootCertPath = "var/run/secrets/istio/root-cert.pem"

// maxSocketPath is the longest path of a Unix socket on Linux.
const maxSocketPath = 107

// Spec describes the workload an agent serves and the control plane it
// talks to.
type Spec struct {
	// Namespace, Pod and ServiceAccount name the workload; its
	// certificate is for spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/SERVICE_ACCOUNT.
	Namespace, Pod, ServiceAccount string
	// Labels are the Pod's, which the agent reports in its node metadata.
	Labels map[string]string
	// IP is the Pod's address (INSTANCE_IP), the only one the agent
	// advertises.
	IP string
	// ControlPlane is the CA and xDS address over TLS (istiod's 15012),
	// ServerName a DNS name of its serving certificate and RootCert the
	// PEM of the root that signs it.
	ControlPlane, ServerName string
	RootCert                 []byte
	// Token is the Pod's projected service account token (audience
	// istio-ca), as the kubelet would mount it.
	Token string
	// Env is added to the agent's environment after the defaults, e.g.
	// SECRET_TTL to ask for short-lived certificates.
	Env []string
}

// Agent is a running pilot-agent.
type Agent struct {
	Spec Spec
	// Dir is the agent's working directory.
	Dir string
	// CertDir holds the workload's certificate files (OUTPUT_CERTS).
	CertDir string
	// BootstrapPath is the gRPC xDS bootstrap the agent writes for the
	// application (GRPC_XDS_BOOTSTRAP).
	BootstrapPath string
	// StatusAddr serves /healthz/ready.
	StatusAddr string

	proc *proc.Process
}

// Start writes the workload's token, labels and annotations into a fresh
// working directory and runs 'pilot-agent proxy sidecar' (bin) there,
// logging into logDir, until t ends. It does not wait: WaitReady does.
func Start(t testing.TB, bin, logDir string, spec Spec) *Agent {
	t.Helper()
	dir := t.TempDir()
	// Where the agent keeps its sockets and the application's bootstrap.
	proxyDir := filepath.Join(dir, "etc", "istio", "proxy")
	statusPort := ports.Free(t)
	a := &Agent{
		Spec:          spec,
		Dir:           dir,
		CertDir:       filepath.Join(dir, "var", "lib", "istio", "data"),
		BootstrapPath: filepath.Join(proxyDir, "grpc-bootstrap.json"),
		StatusAddr:    "127.0.0.1:" + strconv.Itoa(statusPort),
	}
	// The agent listens for the application's xDS on a Unix socket
	// there, whose path the kernel caps (sun_path).
	if socket := filepath.Join(proxyDir, "XDS"); len(socket) > maxSocketPath {
		t.Fatalf("agent: the xDS socket path %s is longer than a Unix socket allows (%d bytes); shorten the test's name", socket, maxSocketPath)
	}
	excluded, err := hostInterfaces()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		// The paths istio-agent reads relative to its working directory:
		// the projected token and the downward API's Pod info.
		"var/run/secrets/tokens/istio-token": []byte(spec.Token),
		"etc/istio/pod/labels":               downwardAPI(spec.Labels),
		"etc/istio/pod/annotations": downwardAPI(map[string]string{
			// The agent advertises every address of its network
			// namespace; here that is the host's, which are no Pod's.
			"traffic.sidecar.istio.io/excludeInterfaces": strings.Join(excluded, ","),
		}),
		rootCertPath: spec.RootCert,
	}
	for name, data := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// The agent writes into OUTPUT_CERTS but does not create it, and does
	// not retry when it is missing.
	if err := os.MkdirAll(a.CertDir, 0o755); err != nil {
		t.Fatal(err)
	}
	proxyConfig, err := json.Marshal(map[string]any{
		"discoveryAddress": spec.ControlPlane,
		// Absolute: the agent puts its xDS socket here, and the
		// application, in another working directory, dials it.
		"configPath": proxyDir,
		"statusPort": statusPort,
	})
	if err != nil {
		t.Fatal(err)
	}
	rootPath := filepath.Join(dir, rootCertPath)
	env := []string{
		// What Istio's grpc-agent template sets.
		"DISABLE_ENVOY=true",
		"ISTIO_META_GENERATOR=grpc",
		"ISTIO_META_DNS_CAPTURE=false",
		"ISTIO_META_CLUSTER_ID=Kubernetes",
		"OUTPUT_CERTS=" + a.CertDir,
		"GRPC_XDS_BOOTSTRAP=" + a.BootstrapPath,
		"PROXY_CONFIG=" + string(proxyConfig),
		"POD_NAME=" + spec.Pod,
		"POD_NAMESPACE=" + spec.Namespace,
		"INSTANCE_IP=" + spec.IP,
		"SERVICE_ACCOUNT=" + spec.ServiceAccount,
		// The control plane's serving certificate: who it must be and
		// which root signs it, for both the CA and xDS connections.
		"ISTIOD_SAN=" + spec.ServerName,
		"CA_ROOT_CA=" + rootPath,
		"XDS_ROOT_CA=" + rootPath,
	}
	a.proc = proc.Start(t, logDir, proc.Spec{
		Name: "agent-" + spec.Namespace + "-" + spec.Pod,
		Path: bin,
		Dir:  dir,
		Args: []string{"proxy", "sidecar",
			"--domain", spec.Namespace + ".svc.cluster.local",
			"--log_output_level", "default:info",
		},
		Env:       append(env, spec.Env...),
		StopGrace: 2 * time.Second,
	})
	return a
}

// hostInterfaces names the host's network interfaces that carry an
// address.
func hostInterfaces() ([]string, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("agent: listing the host's interfaces: %w", err)
	}
	var names []string
	for _, iface := range ifaces {
		if addrs, err := iface.Addrs(); err == nil && len(addrs) > 0 {
			names = append(names, iface.Name)
		}
	}
	return names, nil
}

// downwardAPI writes a map as the downward API writes Pod labels and
// annotations into a file: one key="quoted value" per line.
func downwardAPI(m map[string]string) []byte {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(&b, "%s=%s\n", k, strconv.Quote(m[k]))
	}
	return []byte(b.String())
}

// SetRootCert replaces the control plane's root the agent trusts, as the
// kubelet updates a mounted ConfigMap istio-ca-root-cert: a new file
// renamed over the old, which the agent watches.
func (a *Agent) SetRootCert(pem []byte) error {
	path := filepath.Join(a.Dir, rootCertPath)
	tmp := path + ".new"
	if err := os.WriteFile(tmp, pem, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Process is the running agent.
func (a *Agent) Process() *proc.Process { return a.proc }

// Ready returns nil once the agent reports ready: it holds a
// certificate, has written its files and the bootstrap, and reaches the
// control plane.
func (a *Agent) Ready() error {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + a.StatusAddr + "/healthz/ready")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/healthz/ready: %d %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	for _, f := range []string{a.BootstrapPath, filepath.Join(a.CertDir, CertChainFile), filepath.Join(a.CertDir, KeyFile), filepath.Join(a.CertDir, RootCertFile)} {
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("ready, but: %w", err)
		}
	}
	return nil
}

// WaitReady waits for Ready and returns how long it took. A gRPC
// application must not start before: with xDS credentials, one that
// starts before the certificate files exist never picks them up.
func (a *Agent) WaitReady(t testing.TB) time.Duration {
	t.Helper()
	return wait.For(t, wait.Long, "pilot-agent of "+a.Spec.Namespace+"/"+a.Spec.Pod+" to be ready", a.proc.While(t, a.Ready))
}

// CertChain parses the certificate chain the agent wrote, leaf first.
func (a *Agent) CertChain() ([]*x509.Certificate, error) {
	b, err := os.ReadFile(filepath.Join(a.CertDir, CertChainFile))
	if err != nil {
		return nil, err
	}
	chain, err := certutil.ParseCertsPEM(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", CertChainFile, err)
	}
	return chain, nil
}

// BootstrapWithRefresh writes a copy of the agent's gRPC bootstrap whose
// file_watcher certificate providers read the certificate files again
// every refresh, and returns its path. istio-agent writes 15 minutes, so
// an application on its own bootstrap keeps presenting a certificate that
// long after the agent renewed it: a test whose certificates live seconds
// needs this.
func (a *Agent) BootstrapWithRefresh(refresh time.Duration) (string, error) {
	b, err := os.ReadFile(a.BootstrapPath)
	if err != nil {
		return "", err
	}
	var boot map[string]any
	if err := json.Unmarshal(b, &boot); err != nil {
		return "", fmt.Errorf("%s: %w", a.BootstrapPath, err)
	}
	providers, _ := boot["certificate_providers"].(map[string]any)
	if len(providers) == 0 {
		return "", fmt.Errorf("%s: no certificate providers", a.BootstrapPath)
	}
	for name, p := range providers {
		provider, _ := p.(map[string]any)
		config, _ := provider["config"].(map[string]any)
		if config == nil {
			return "", fmt.Errorf("%s: certificate provider %s has no config", a.BootstrapPath, name)
		}
		// A google.protobuf.Duration in its JSON form.
		config["refresh_interval"] = strconv.FormatFloat(refresh.Seconds(), 'f', -1, 64) + "s"
	}
	out, err := json.MarshalIndent(boot, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(a.Dir, "grpc-bootstrap-refresh.json")
	return path, os.WriteFile(path, out, 0o644)
}
