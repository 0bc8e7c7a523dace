// Package istiod runs Istio's control plane, istiod (pilot-discovery built
// by package build from e2e/tools/istio), as a subprocess of an
// end-to-end test, against the test bed's API server: the reference that
// pilotlight's output is compared with.
//
// istiod is meant to run inside a cluster, as a Deployment whose Pod has a
// Service, a DNS name and certificates. Here it runs outside, as a plain
// process on free loopback ports, with the parts that need a cluster-internal
// setup switched off: its CA and the secure xDS port (no certificates to
// mint or serve), the injection and validation webhooks (no webhook
// configurations to patch) and ctrlz on its fixed default port. What is left
// is the part the tests read: the Kubernetes and Istio config informers and
// the plaintext ADS server (port 15010 in a cluster), which answers any node
// id without authentication, as istiod's plaintext port does.
//
// It runs with the admin's credentials: it is the yardstick, not the
// subject, and its RBAC is not under test.
package istiod

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/e2e/framework/cluster"
	"github.com/pilotlight/pilotlight/e2e/framework/ports"
	"github.com/pilotlight/pilotlight/e2e/framework/proc"
	"github.com/pilotlight/pilotlight/e2e/framework/wait"
)

// Namespace is istiod's namespace: where it reads the mesh ConfigMap
// ("istio", key "mesh") and keeps its leases. It must exist before Start.
const Namespace = "istio-system"

// ClusterID is the cluster name istiod gives the test bed, the one
// istio-agent reports as CLUSTER_ID by default.
const ClusterID = "Kubernetes"

// Instance is a running istiod.
type Instance struct {
	// GRPCAddr is the plaintext ADS address; HTTPAddr serves /ready and
	// the debug API; MonitoringAddr serves /metrics.
	GRPCAddr, HTTPAddr, MonitoringAddr string

	proc *proc.Process
}

// Start runs 'pilot-discovery discovery' (bin) against cluster c, logging
// into the cluster's directory, and stops it when t ends. The mesh
// configuration comes from the ConfigMap "istio" in Namespace, as in a
// cluster, or Istio's defaults without it. It does not wait for
// readiness: WaitReady does.
func Start(t testing.TB, bin string, c *cluster.Cluster) *Instance {
	t.Helper()
	i := &Instance{
		GRPCAddr:       ports.FreeAddr(t),
		HTTPAddr:       ports.FreeAddr(t),
		MonitoringAddr: ports.FreeAddr(t),
	}
	kubeconfig := c.WriteKubeconfig(t, "istiod.kubeconfig", c.Addr, c.AdminToken)
	// istiod resolves its default file paths (mesh config, injection
	// templates, certificates) relative to its working directory; an
	// empty one keeps them all absent, so the ConfigMap is the mesh
	// config's only source.
	dir := filepath.Join(c.Dir, "istiod")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	i.proc = proc.Start(t, c.Dir, proc.Spec{
		Name: "istiod",
		Path: bin,
		Dir:  dir,
		Args: []string{"discovery",
			"--kubeconfig", kubeconfig,
			"--grpcAddr", i.GRPCAddr,
			"--httpAddr", i.HTTPAddr,
			"--monitoringAddr", i.MonitoringAddr,
			// No TLS listeners: with the CA off there is no certificate
			// to serve on the secure xDS port, and the webhooks then
			// share the plain HTTP port.
			"--secureGRPCAddr", "",
			"--httpsAddr", "",
			"--ctrlz_port", strconv.Itoa(ports.Free(t)),
			"--domain", "cluster.local",
			"--clusterID", ClusterID,
			"--log_output_level", "default:info",
		},
		Env: []string{
			"POD_NAMESPACE=" + Namespace,
			"POD_NAME=istiod-e2e",
			"REVISION=default",
			"ENABLE_CA_SERVER=false",
			// Nothing to patch: the test bed has no webhook
			// configurations, and istiod has no serving certificate.
			"INJECTION_WEBHOOK_CONFIG_NAME=",
			"VALIDATION_WEBHOOK_CONFIG_NAME=",
			// The test bed has no Gateway API CRDs; istiod would only
			// wait for them.
			"PILOT_ENABLE_GATEWAY_API=false",
			// Status writing and analysis change objects the tests
			// create and compare.
			"PILOT_ENABLE_STATUS=false",
			"PILOT_ENABLE_ANALYSIS=false",
		},
		// istiod drains for --shutdownDuration (10 s) after SIGTERM; the
		// test has nothing to drain.
		StopGrace: 2 * time.Second,
	})
	return i
}

// Process is the running process.
func (i *Instance) Process() *proc.Process { return i.proc }

// Ready returns nil if istiod's /ready answers 200: its informers have
// synced and its ADS server accepts streams.
func (i *Instance) Ready() error {
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + i.HTTPAddr + "/ready")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/ready: %d %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return nil
}

// WaitReady waits for Ready and returns how long it took.
func (i *Instance) WaitReady(t testing.TB) time.Duration {
	t.Helper()
	return wait.For(t, wait.Long, "istiod to be ready", i.proc.While(t, i.Ready))
}

// PeakRSS is istiod's peak resident memory in bytes so far (VmHWM).
func (i *Instance) PeakRSS() (int64, error) { return i.proc.PeakRSS() }
