package parity

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/e2e/framework/build"
	"github.com/pilotlight/pilotlight/e2e/framework/cluster"
	"github.com/pilotlight/pilotlight/e2e/framework/istiod"
	"github.com/pilotlight/pilotlight/e2e/framework/pilotlight"
)

// buildTimeout bounds building every binary on a cold cache: the
// Kubernetes peers take about five minutes on two cores, istiod about
// five more, longer when the machine is shared.
const buildTimeout = 40 * time.Minute

// binaries builds the peers (or takes them from e2e/bin) and pilotlight
// from the checkout. A failure fails the test loudly: CI can build them.
func binaries(t testing.TB) (build.Layout, build.Binaries) {
	t.Helper()
	l, err := build.Locate()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	start := time.Now()
	bins, err := build.Peers(ctx, l, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("peers ready in %v", time.Since(start).Round(time.Millisecond))
	if bins[build.Pilotlight], err = build.Local(ctx, l, build.Pilotlight, os.Stderr); err != nil {
		t.Fatal(err)
	}
	return l, bins
}

// deployPilotlight applies pilotlight's ServiceAccount and RBAC (its
// namespace, istio-system, too), with the gateway-secrets overlay's Secret
// read role, and returns a kubeconfig with the ServiceAccount's token.
func deployPilotlight(t testing.TB, l build.Layout, c *cluster.Cluster) string {
	t.Helper()
	kubeconfig := pilotlight.Deploy(t, c, l.Repo, c.Addr)
	c.ApplyFile(t, pilotlight.Namespace, filepath.Join(l.Repo, "deploy", "gateway-secrets", "rbac.yaml"))
	return kubeconfig
}

// startPilotlight starts pilotlight with its own kubeconfig, serving
// gateway certificates, and returns once it is ready, and how long that
// took.
func startPilotlight(t testing.TB, bins build.Binaries, c *cluster.Cluster, kubeconfig string) (*pilotlight.Instance, time.Duration) {
	t.Helper()
	inst := pilotlight.Start(t, bins.Path(build.Pilotlight), c.Dir,
		"--kubeconfig", kubeconfig,
		"--serve-gateway-secrets",
	)
	return inst, inst.WaitReady(t)
}

// startIstiod starts istiod on the cluster and returns once it is ready,
// and how long that took.
func startIstiod(t testing.TB, bins build.Binaries, c *cluster.Cluster) (*istiod.Instance, time.Duration) {
	t.Helper()
	inst := istiod.Start(t, bins.Path(build.PilotDiscovery), c)
	return inst, inst.WaitReady(t)
}
