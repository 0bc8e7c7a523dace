// Package pilotlight runs pilotlight as a subprocess of an end-to-end test,
// the way it runs in a cluster: under ServiceAccount pilotlight in
// istio-system, bound to the ClusterRole of deploy/base/rbac.yaml, with a
// token of its own (never the harness's admin token). Tests read its
// state the way an operator would: /ready, /metrics, /debug/..., and the
// process's peak memory.
package pilotlight

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/e2e/framework/cluster"
	"github.com/pilotlight/pilotlight/e2e/framework/ports"
	"github.com/pilotlight/pilotlight/e2e/framework/proc"
	"github.com/pilotlight/pilotlight/e2e/framework/wait"
)

// Namespace and ServiceAccount pilotlight runs as, from deploy/base.
const (
	Namespace      = "istio-system"
	ServiceAccount = "pilotlight"
)

// tokenTTL outlives any test; the API server would cap longer requests.
const tokenTTL = 2 * time.Hour

// Deploy applies deploy/base's Namespace, ServiceAccount and RBAC, mints
// a token for the ServiceAccount and writes a kubeconfig that reaches the
// API server at apiAddr (the server itself, or a proxy the test controls)
// with it. repo is the root of pilotlight's repository.
func Deploy(t testing.TB, c *cluster.Cluster, repo, apiAddr string) string {
	t.Helper()
	base := filepath.Join(repo, "deploy", "base")
	for _, f := range []string{"namespace.yaml", "serviceaccount.yaml", "rbac.yaml"} {
		c.ApplyFile(t, Namespace, filepath.Join(base, f))
	}
	token := c.ServiceAccountToken(t, Namespace, ServiceAccount, tokenTTL)
	return c.WriteKubeconfig(t, "pilotlight.kubeconfig", apiAddr, token)
}

// Instance is a pilotlight process.
type Instance struct {
	// GRPCAddr is the plaintext ADS address, HTTPAddr the readiness,
	// metrics and debug address, SecureAddr the CA and ADS over TLS; all
	// stay the same across Restart.
	GRPCAddr, HTTPAddr, SecureAddr string

	bin, logDir string
	args        []string
	proc        *proc.Process
	restarts    int
}

// Start runs 'pilotlight serve' with args (e.g. --kubeconfig FILE) on
// free loopback ports, logging into logDir, and stops it when t ends. It
// does not wait for readiness: tests that want it call WaitReady.
func Start(t testing.TB, bin, logDir string, args ...string) *Instance {
	t.Helper()
	i := &Instance{
		GRPCAddr: ports.FreeAddr(t),
		HTTPAddr: ports.FreeAddr(t),
		// The CA runs as in a deployment, on its own free port: with
		// deploy/base's RBAC it keeps its root in istio-ca-secret.
		SecureAddr: ports.FreeAddr(t),
		bin:        bin,
		logDir:     logDir,
		args:       args,
	}
	i.start(t)
	return i
}

func (i *Instance) start(t testing.TB) {
	t.Helper()
	name := "pilotlight"
	if i.restarts > 0 {
		name = fmt.Sprintf("pilotlight-%d", i.restarts)
	}
	i.proc = proc.Start(t, i.logDir, proc.Spec{
		Name: name,
		Path: i.bin,
		Args: append([]string{"serve",
			"--grpc-addr", i.GRPCAddr,
			"--http-addr", i.HTTPAddr,
			"--secure-grpc-addr", i.SecureAddr,
			"--log-format", "console",
		}, i.args...),
	})
}

// Restart stops pilotlight (SIGTERM) and starts it again with the same
// flags and ports.
func (i *Instance) Restart(t testing.TB) {
	t.Helper()
	i.proc.Stop()
	i.restarts++
	i.start(t)
}

// Process is the running process.
func (i *Instance) Process() *proc.Process { return i.proc }

// Get fetches a path of the HTTP server and returns the status code and
// body.
func (i *Instance) Get(path string) (int, string, error) {
	if err := i.proc.ExitError(); err != nil {
		return 0, "", fmt.Errorf("%w; last lines:\n%s", err, i.proc.Tail(20))
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + i.HTTPAddr + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// Ready returns nil if /ready answers 200, or why not.
func (i *Instance) Ready() error {
	code, body, err := i.Get("/ready")
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("/ready: %d %s", code, strings.TrimSpace(body))
	}
	return nil
}

// WaitReady waits for /ready and returns how long it took.
func (i *Instance) WaitReady(t testing.TB) time.Duration {
	t.Helper()
	return wait.For(t, wait.Long, "pilotlight to be ready", i.proc.While(t, i.Ready))
}

// PeakRSS is pilotlight's peak resident memory in bytes so far (VmHWM).
func (i *Instance) PeakRSS() (int64, error) { return i.proc.PeakRSS() }
