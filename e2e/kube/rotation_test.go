package kube

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	certutil "k8s.io/client-go/util/cert"

	"github.com/pilotlight/pilotlight/e2e/framework/agent"
	"github.com/pilotlight/pilotlight/e2e/framework/build"
	"github.com/pilotlight/pilotlight/e2e/framework/pilotlight"
	"github.com/pilotlight/pilotlight/e2e/framework/wait"
	"github.com/pilotlight/pilotlight/e2e/framework/workload"
	"github.com/pilotlight/pilotlight/e2e/framework/xdsapp"
	"github.com/pilotlight/pilotlight/e2e/framework/xdsapp/wire"
)

// rotationTTL is the client workload's certificate lifetime: pilot-agent
// renews at about half of it (SECRET_GRACE_PERIOD_RATIO 0.5), which
// bounds the test's wait.
const rotationTTL = 90 * time.Second

// TestAgentCertRotation: pilot-agent renews a short-lived workload
// certificate from pilotlight's CA before it expires, writing a new
// serial into its files, and a proxyless client that reads those files
// through the file_watcher of pilotlight's own gRPC bootstrap ('pilotlight
// bootstrap --grpc --cert-dir', refreshed every second) presents the new
// certificate on the connections it opens after the renewal, while every
// call, before, during and after, succeeds over mutual TLS.
func TestAgentCertRotation(t *testing.T) {
	m := newAgentMesh(t)
	c := m.cluster
	server := m.pod(t, meshPodSpec{Name: "echo-v1", ServiceAccount: "echo", App: "echo"})
	// The agent asks for the lifetime it is told (SECRET_TTL), which the
	// CA grants up to --max-workload-cert-ttl.
	client := m.pod(t, meshPodSpec{Name: "client-1", ServiceAccount: "client", App: "client",
		AgentEnv: []string{"SECRET_TTL=" + rotationTTL.String()}})
	c.WaitForEndpoints(t, meshNamespace, "echo", server.ns.Addr.String())
	c.Apply(t, meshNamespace, []byte(strictPeerAuthentication+"---"+istioMutual))
	srv := m.xdsServer(t, server)
	srv.WaitServing(t)
	wait.For(t, wait.Long, "the server to refuse plaintext", refusesPlaintext(srv))

	old := leaf(t, client)
	if left := time.Until(old.NotAfter); left > rotationTTL {
		t.Fatalf("the client's certificate is valid for %v more; the agent asked for %v", left.Round(time.Second), rotationTTL)
	}
	boot := m.cp.GRPCBootstrap(t, pilotlight.Workload{
		IP: client.ns.Addr.String(), Pod: client.name, Namespace: client.namespace, Region: "region-1", Zone: "zone-a",
		CertDir: client.agent.CertDir, CertRefresh: time.Second,
	})
	bootPath := filepath.Join(t.TempDir(), "grpc-bootstrap.json")
	if err := os.WriteFile(bootPath, boot, 0o644); err != nil {
		t.Fatal(err)
	}
	// On the host: the bootstrap points at pilotlight's loopback
	// address, and the client's identity is its certificate.
	caller := xdsapp.StartClient(t, m.bins.Path(build.XDSApp), c.Dir, nil, bootPath, target(meshNamespace, "echo"), 0, 250*time.Millisecond)
	presents := func(serial string) func() error {
		return func() error {
			results, err := caller.Results()
			if err != nil {
				return err
			}
			if len(results) == 0 {
				return errors.New("no call yet")
			}
			if last := results[len(results)-1]; last.SeenClientSerial != serial {
				return fmt.Errorf("last call: %+v", last)
			}
			return nil
		}
	}
	wait.For(t, wait.Long, "calls over mutual TLS with the first certificate", presents(wire.Serial(old)))

	var renewed time.Time
	took := wait.For(t, rotationTTL, "pilot-agent to renew the client's certificate", func() error {
		chain, err := client.agent.CertChain()
		if err != nil {
			// The agent may be writing the file.
			return err
		}
		if chain[0].SerialNumber.Cmp(old.SerialNumber) == 0 {
			return errors.New("still the first certificate")
		}
		renewed = time.Now()
		return nil
	})
	fresh := leaf(t, client)
	t.Logf("certificate renewed %v after the test first read it, %v before it expired", took.Round(time.Second), old.NotAfter.Sub(renewed).Round(time.Second))
	if !renewed.Before(old.NotAfter) {
		t.Errorf("certificate renewed at %v, after the old one expired at %v", renewed, old.NotAfter)
	}
	if len(fresh.URIs) != 1 || fresh.URIs[0].String() != client.spiffeID() {
		t.Errorf("renewed certificate is for %v, want %s", fresh.URIs, client.spiffeID())
	}
	took = wait.For(t, wait.Short, "fresh connections to present the renewed certificate", presents(wire.Serial(fresh)))
	t.Logf("fresh connections present the renewed certificate %v after it was written", took.Round(time.Millisecond))
	caller.Process().Stop()

	results, err := caller.Results()
	if err != nil {
		t.Fatal(err)
	}
	// Calls made before the policies reached the client are plaintext;
	// from the first one over mutual TLS on, every call must be.
	first := slices.IndexFunc(results, func(r wire.Result) bool { return r.SeenClientSerial != "" })
	if first < 0 {
		t.Fatalf("no call over mutual TLS among %d", len(results))
	}
	seenFresh := false
	for i := first; i < len(results); i++ {
		r := results[i]
		if r.Code != "OK" || r.Security != wire.SecurityTLS || r.ServerID != server.spiffeID() || r.SeenClientID != client.spiffeID() {
			t.Errorf("call %d of %d: %+v, want OK over mutual TLS between %s and %s", i, len(results), r, client.spiffeID(), server.spiffeID())
			continue
		}
		switch r.SeenClientSerial {
		case wire.Serial(fresh):
			seenFresh = true
		case wire.Serial(old):
			if seenFresh {
				t.Errorf("call %d of %d presented the old certificate after a call had presented the renewed one", i, len(results))
			}
		default:
			t.Errorf("call %d of %d presented serial %s, neither the first (%s) nor the renewed one (%s)", i, len(results), r.SeenClientSerial, wire.Serial(old), wire.Serial(fresh))
		}
	}
	t.Logf("%d calls over mutual TLS, each on a fresh connection (%d before that, while the policies reached the client)", len(results)-first, first)
}

// TestAgentRootRotation rotates pilotlight's self-signed root (two
// minutes, the next one made halfway and signing once every workload
// could have it) under mutual TLS traffic between proxyless workloads
// whose agents renew 20-second certificates: the agents write the
// two-root bundle, then certificates from the next root, and every call,
// each on a fresh connection, succeeds until the old root has left the
// published bundle.
func TestAgentRootRotation(t *testing.T) {
	const certTTL = 20 * time.Second
	m := newAgentMesh(t, "--ca-root-ttl=2m", "--ca-root-rotation-grace=0.5", "--max-workload-cert-ttl="+certTTL.String(), "--workload-cert-ttl="+certTTL.String())
	c := m.cluster
	short := []string{"SECRET_TTL=" + certTTL.String()}
	server := m.pod(t, meshPodSpec{Name: "echo-v1", ServiceAccount: "echo", App: "echo", AgentEnv: short})
	client := m.pod(t, meshPodSpec{Name: "client-1", ServiceAccount: "client", App: "client", AgentEnv: short})
	c.WaitForEndpoints(t, meshNamespace, "echo", server.ns.Addr.String())
	c.Apply(t, meshNamespace, []byte(strictPeerAuthentication+"---"+istioMutual))
	// Both applications read their files every second, or they would
	// present expired certificates.
	serverBoot, err := server.agent.BootstrapWithRefresh(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	srv := xdsapp.StartServer(t, m.bins.Path(build.XDSApp), c.Dir, server.ns, serverBoot, server.name, workload.Port)
	srv.WaitServing(t)
	wait.For(t, wait.Long, "the server to refuse plaintext", refusesPlaintext(srv))
	clientBoot, err := client.agent.BootstrapWithRefresh(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	caller := xdsapp.StartClient(t, m.bins.Path(build.XDSApp), c.Dir, client.ns, clientBoot, target(meshNamespace, "echo"), 0, 250*time.Millisecond)
	lastCall := func() (wire.Result, error) {
		results, err := caller.Results()
		if err != nil || len(results) == 0 {
			return wire.Result{}, fmt.Errorf("no call yet (%v)", err)
		}
		return results[len(results)-1], nil
	}
	wait.For(t, wait.Long, "calls over mutual TLS", func() error {
		if r, err := lastCall(); err != nil || r.SeenClientSerial == "" {
			return fmt.Errorf("last call: %+v (%v)", r, err)
		}
		return nil
	})
	start := time.Now()

	bundlePEM := func() ([]byte, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cm, err := c.Kube.CoreV1().ConfigMaps(meshNamespace).Get(ctx, rootCertConfigMap, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		return []byte(cm.Data["root-cert.pem"]), nil
	}
	bundle := func() ([]*x509.Certificate, error) {
		pem, err := bundlePEM()
		if err != nil {
			return nil, err
		}
		return certutil.ParseCertsPEM(pem)
	}
	// The agents trust pilotlight's serving certificate by the published
	// bundle, mounted from the ConfigMap, which the kubelet would keep up
	// to date.
	mirror, stopMirror := context.WithCancel(context.Background())
	mirrored := make(chan struct{})
	t.Cleanup(func() { stopMirror(); <-mirrored })
	go func() {
		defer close(mirrored)
		var last []byte
		for mirror.Err() == nil {
			if pem, err := bundlePEM(); err == nil && !bytes.Equal(pem, last) {
				for _, p := range []*meshPod{server, client} {
					if err := p.agent.SetRootCert(pem); err != nil {
						t.Errorf("%s: mounting the bundle: %v", p.name, err)
					}
				}
				last = pem
			}
			select {
			case <-mirror.Done():
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()
	var next *x509.Certificate
	wait.For(t, 2*time.Minute, "the next root in the published bundle", func() error {
		roots, err := bundle()
		if err != nil {
			return err
		}
		for _, r := range roots {
			if !r.Equal(m.root) {
				next = r
				return nil
			}
		}
		return fmt.Errorf("the bundle holds %d roots", len(roots))
	})
	t.Logf("next root published %v into the traffic", time.Since(start).Round(time.Second))

	// Which root signed each certificate the agents wrote, by serial, so
	// that a call's serials say which root its two sides used.
	fromNext := map[string]bool{}
	// bundles counts the roots of the bundles the agents wrote, which must
	// hold both while both sign what is in use.
	bundles := map[int]bool{}
	record := func(p *meshPod) {
		if chain, err := p.agent.CertChain(); err == nil {
			fromNext[wire.Serial(chain[0])] = chain[0].CheckSignatureFrom(next) == nil
		}
		if roots, err := certutil.CertsFromFile(filepath.Join(p.agent.CertDir, agent.RootCertFile)); err == nil {
			bundles[len(roots)] = true
		}
	}
	wait.For(t, 2*time.Minute, "a call between two certificates of the next root", func() error {
		record(server)
		record(client)
		r, err := lastCall()
		if err != nil {
			return err
		}
		if !fromNext[r.ServerSerial] || !fromNext[r.SeenClientSerial] {
			return fmt.Errorf("last call: %+v", r)
		}
		return nil
	})
	t.Logf("calls on certificates of the next root %v into the traffic", time.Since(start).Round(time.Second))
	if !bundles[2] {
		t.Errorf("the agents wrote bundles of %v roots, never both", slices.Sorted(maps.Keys(bundles)))
	}
	wait.For(t, 2*time.Minute, "the old root out of the published bundle", func() error {
		roots, err := bundle()
		if err == nil && (len(roots) != 1 || !roots[0].Equal(next)) {
			err = fmt.Errorf("the bundle holds %d roots", len(roots))
		}
		return err
	})
	t.Logf("old root retired %v into the traffic", time.Since(start).Round(time.Second))
	// Calls go on after the retirement.
	results, err := caller.Results()
	if err != nil {
		t.Fatal(err)
	}
	after := len(results)
	wait.For(t, wait.Short, "calls after the old root's retirement", func() error {
		if results, err = caller.Results(); err == nil && len(results) < after+8 {
			err = fmt.Errorf("%d calls since", len(results)-after)
		}
		return err
	})
	caller.Process().Stop()

	if results, err = caller.Results(); err != nil {
		t.Fatal(err)
	}
	first := slices.IndexFunc(results, func(r wire.Result) bool { return r.SeenClientSerial != "" })
	if first < 0 {
		t.Fatalf("no call over mutual TLS among %d", len(results))
	}
	failed := 0
	for i := first; i < len(results); i++ {
		if r := results[i]; r.Code != "OK" || r.Security != wire.SecurityTLS {
			failed++
			t.Errorf("call %d of %d: %+v, want OK over mutual TLS", i, len(results), r)
		}
	}
	t.Logf("%d calls over mutual TLS through the root rotation, %d failed", len(results)-first, failed)
}
