package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/e2e/framework/build"
	"github.com/pilotlight/pilotlight/e2e/framework/ports"
	"github.com/pilotlight/pilotlight/e2e/framework/proc"
	"github.com/pilotlight/pilotlight/e2e/framework/wait"
)

// ServiceCIDR is the range ClusterIPs come from.
const ServiceCIDR = "10.96.0.0/16"

// Controllers are the kube-controller-manager controllers that run. Pods
// need a ServiceAccount to be admitted, so the serviceaccount controller
// creates each namespace's "default" one, as in a real cluster.
const Controllers = "endpointslice,endpointslicemirroring,serviceaccount,serviceaccount-token,namespace,garbagecollector"

// startEtcd starts etcd and returns its client address once healthy.
func (c *Cluster) startEtcd(t testing.TB) string {
	t.Helper()
	client := "http://127.0.0.1:" + strconv.Itoa(ports.Free(t))
	peer := "http://127.0.0.1:" + strconv.Itoa(ports.Free(t))
	p := proc.Start(t, c.Dir, proc.Spec{
		Name: "etcd",
		Path: c.bins.Path(build.Etcd),
		Args: []string{
			"--data-dir", filepath.Join(c.Dir, "etcd"),
			"--listen-client-urls", client,
			"--advertise-client-urls", client,
			"--listen-peer-urls", peer,
			"--initial-advertise-peer-urls", peer,
			"--initial-cluster", "default=" + peer,
			// The data dies with the test; syncing it to disk would only
			// slow a shared machine down.
			"--unsafe-no-fsync",
			"--log-level", "warn",
		},
	})
	c.procs = append(c.procs, p)
	wait.For(t, wait.Long, "etcd to be healthy", func() error {
		if err := c.checkAlive(); err != nil {
			return err
		}
		body, err := get(&http.Client{Timeout: 5 * time.Second}, client+"/health", "")
		if err != nil {
			return err
		}
		if !strings.Contains(body, `"health":"true"`) {
			return errors.New(body)
		}
		return nil
	})
	return client
}

// startAPIServer starts kube-apiserver on etcd and waits for /readyz.
func (c *Cluster) startAPIServer(t testing.TB, etcd string, keys serviceAccountKeys) {
	t.Helper()
	port := ports.Free(t)
	c.Addr = "127.0.0.1:" + strconv.Itoa(port)
	certDir := filepath.Join(c.Dir, "apiserver-certs")
	tokens := writeFile(t, c.Dir, "tokens.csv", []byte(c.AdminToken+",admin,admin-uid,system:masters\n"))
	p := proc.Start(t, c.Dir, proc.Spec{
		Name: "kube-apiserver",
		Path: c.bins.Path(build.KubeAPIServer),
		Args: []string{
			"--etcd-servers", etcd,
			"--bind-address", "127.0.0.1",
			"--secure-port", strconv.Itoa(port),
			"--cert-dir", certDir,
			"--service-account-issuer", "https://kubernetes.default.svc",
			"--service-account-key-file", keys.public,
			"--service-account-signing-key-file", keys.private,
			"--token-auth-file", tokens,
			"--authorization-mode", "RBAC",
			"--service-cluster-ip-range", ServiceCIDR,
			// The API server would publish its own loopback address as
			// the endpoint of Service "kubernetes"; EndpointSlices reject
			// loopback, and no test needs that Service's endpoints.
			"--endpoint-reconciler-type", "none",
			"--v", "1",
		},
	})
	c.procs = append(c.procs, p)
	// The serving certificate is self-signed, written to certDir at start
	// (the CA first, then the leaf signed by it, in one file).
	c.CAFile = filepath.Join(certDir, "apiserver.crt")
	wait.For(t, wait.Long, "kube-apiserver to be ready", func() error {
		if err := c.checkAlive(); err != nil {
			return err
		}
		client, err := c.httpClient()
		if err != nil {
			return err
		}
		body, err := get(client, "https://"+c.Addr+"/readyz", c.AdminToken)
		if err != nil {
			return err
		}
		if strings.TrimSpace(body) != "ok" {
			return errors.New(body)
		}
		return nil
	})
}

// httpClient is an HTTP client that trusts the API server's certificate,
// once it exists.
func (c *Cluster) httpClient() (*http.Client, error) {
	pem, err := os.ReadFile(c.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no certificate in %s yet", c.CAFile)
	}
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
	}, nil
}

// startControllerManager starts kube-controller-manager with Controllers
// only. It has no readiness endpoint worth waiting for: tests wait for
// the effects they need (a slice, a ServiceAccount) instead.
func (c *Cluster) startControllerManager(t testing.TB, keys serviceAccountKeys) {
	t.Helper()
	kubeconfig := c.WriteKubeconfig(t, "controller-manager.kubeconfig", c.Addr, c.AdminToken)
	p := proc.Start(t, c.Dir, proc.Spec{
		Name: "kube-controller-manager",
		Path: c.bins.Path(build.KubeControllerManager),
		Args: []string{
			"--kubeconfig", kubeconfig,
			"--controllers", Controllers,
			"--leader-elect=false",
			// No port of its own: parallel clusters would fight over the
			// default, and nothing scrapes it.
			"--secure-port", "0",
			"--service-account-private-key-file", keys.private,
			"--root-ca-file", c.CAFile,
			"--service-cluster-ip-range", ServiceCIDR,
			"--v", "1",
		},
	})
	c.procs = append(c.procs, p)
}

// get fetches url with an optional bearer token and returns the body of a
// 200 response.
func get(client *http.Client, url, token string) (string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s: %s", url, resp.Status, strings.TrimSpace(string(b)))
	}
	return string(b), nil
}
