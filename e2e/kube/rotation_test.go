package kube

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/e2e/framework/build"
	"github.com/pilotlight/pilotlight/e2e/framework/pilotlight"
	"github.com/pilotlight/pilotlight/e2e/framework/wait"
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
	if fresh.URIs[0].String() != client.spiffeID() {
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
