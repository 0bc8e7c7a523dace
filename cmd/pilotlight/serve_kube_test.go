package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testKubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:6443"}
users:
- name: u
  user: {token: secret}
contexts:
- name: c
  context: {cluster: c, user: u}
current-context: c
`

func TestKubeRestConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, []byte(testKubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	o := kubeOptions{kubeconfig: path, qps: 100, burst: 200}
	cfg, err := o.restConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "https://127.0.0.1:6443" || cfg.BearerToken != "secret" || cfg.QPS != 100 || cfg.Burst != 200 ||
		!strings.HasPrefix(cfg.UserAgent, "pilotlight ") {
		t.Errorf("rest config = host %q qps %v burst %d agent %q", cfg.Host, cfg.QPS, cfg.Burst, cfg.UserAgent)
	}

	o.kubeconfig = filepath.Join(t.TempDir(), "missing")
	if _, err := o.restConfig(); err == nil || !strings.Contains(err.Error(), "--kubeconfig") {
		t.Errorf("missing kubeconfig: error = %v, want one naming --kubeconfig", err)
	}
}

// TestServeNeedsACluster: outside a cluster and without --kubeconfig, serve
// says what to pass instead of failing on a missing service account.
func TestServeNeedsACluster(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBERNETES_SERVICE_PORT", "")
	err := runServe(context.Background(), serveOptions{}, zaptestSink{t})
	if !errors.Is(err, errNoCluster) {
		t.Fatalf("error = %v, want errNoCluster", err)
	}
	for _, hint := range []string{"--kubeconfig", "--config-dir"} {
		if !strings.Contains(err.Error(), hint) {
			t.Errorf("error %q does not mention %s", err, hint)
		}
	}

	err = runServe(context.Background(), serveOptions{configDir: "x", kube: kubeOptions{kubeconfig: "y"}}, zaptestSink{t})
	if err == nil || !strings.Contains(err.Error(), "exclude each other") {
		t.Errorf("--config-dir with --kubeconfig: error = %v", err)
	}
}
