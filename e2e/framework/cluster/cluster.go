// Package cluster runs a small real Kubernetes control plane for an
// end-to-end test: etcd, kube-apiserver and kube-controller-manager, built
// by package build, on loopback with free ports and a temporary directory,
// all removed when the test ends, whether it passed or failed.
//
// There is no kubelet. The helpers in objects.go play its part where the
// tests need it: Node objects reported Ready, Pods bound to them whose IPs
// and Ready condition are written through the status subresource. The
// controller-manager runs only the controllers that turn those objects
// into what a real cluster would have (EndpointSlices, ServiceAccounts and
// their tokens, namespace and garbage collection) and none that would
// fight the test, such as node lifecycle (which marks Pods of silent Nodes
// NotReady) or pod GC.
//
// The harness talks to the API server as an admin (a static token);
// pilotlight gets a ServiceAccount token of its own (identity.go).
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	istioclient "istio.io/client-go/pkg/clientset/versioned"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/pilotlight/pilotlight/e2e/framework/build"
	"github.com/pilotlight/pilotlight/e2e/framework/proc"
)

// Options change how a cluster is started.
type Options struct {
	// WithoutIstioCRDs leaves Istio's CRDs out, as in a cluster where
	// Istio was never installed; InstallIstioCRDs adds them later.
	WithoutIstioCRDs bool
}

// Cluster is a running control plane.
type Cluster struct {
	// Dir holds the data, keys, certificates, kubeconfigs and logs.
	Dir string
	// Addr is the API server's HOST:PORT on loopback.
	Addr string
	// CAFile is the certificate bundle that verifies the API server's
	// self-signed serving certificate.
	CAFile string
	// AdminToken authenticates as a member of system:masters.
	AdminToken string
	// Config is the admin's client configuration.
	Config *rest.Config

	// Clients, all authenticated as the admin.
	Kube    kubernetes.Interface
	Dynamic dynamic.Interface
	Istio   istioclient.Interface

	bins  build.Binaries
	procs []*proc.Process
}

// Start starts a cluster for t and stops it when t ends.
func Start(t testing.TB, bins build.Binaries, opts Options) *Cluster {
	t.Helper()
	start := time.Now()
	c := &Cluster{Dir: t.TempDir(), bins: bins, AdminToken: randomToken(t)}
	keys := writeServiceAccountKeys(t, c.Dir)
	etcdAddr := c.startEtcd(t)
	c.startAPIServer(t, etcdAddr, keys)
	c.connect(t)
	c.startControllerManager(t, keys)
	if !opts.WithoutIstioCRDs {
		c.InstallIstioCRDs(t)
	}
	t.Logf("cluster: API server at %s ready in %v", c.Addr, time.Since(start).Round(time.Millisecond))
	return c
}

// connect builds the admin clients.
func (c *Cluster) connect(t testing.TB) {
	t.Helper()
	c.Config = &rest.Config{
		Host:            "https://" + c.Addr,
		BearerToken:     c.AdminToken,
		TLSClientConfig: rest.TLSClientConfig{CAFile: c.CAFile},
		// The benchmark creates thousands of objects; client-go's default
		// of 5 requests per second would measure the client, not the
		// server.
		QPS:   500,
		Burst: 1000,
	}
	var err error
	if c.Kube, err = kubernetes.NewForConfig(c.Config); err != nil {
		t.Fatal(err)
	}
	if c.Dynamic, err = dynamic.NewForConfig(c.Config); err != nil {
		t.Fatal(err)
	}
	if c.Istio, err = istioclient.NewForConfig(c.Config); err != nil {
		t.Fatal(err)
	}
}

// checkAlive returns an error if a control plane process has exited, so
// that a wait which can no longer succeed says why at once.
func (c *Cluster) checkAlive() error {
	for _, p := range c.procs {
		if err := p.ExitError(); err != nil {
			return fmt.Errorf("%w; last lines:\n%s", err, p.Tail(20))
		}
	}
	return nil
}

// apiCtx is the context of one API call from the harness. Calls are quick;
// the bound only keeps a hung server from hanging the test.
func apiCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}

func randomToken(t testing.TB) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// writeFile writes a file under dir, readable by its owner only (keys
// and tokens), and returns its path.
func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
