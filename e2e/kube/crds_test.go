package kube

import (
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/e2e/framework/cluster"
	"github.com/pilotlight/pilotlight/e2e/framework/wait"
)

// TestIstioCRDsInstalledLater starts pilotlight on a cluster without
// Istio: it serves the Kubernetes services all the same, and when Istio's
// CRDs are installed afterwards it starts watching them, so routing
// configured through them takes effect without a restart.
func TestIstioCRDsInstalledLater(t *testing.T) {
	e := newEnvWith(t, cluster.Options{WithoutIstioCRDs: true})
	c := e.cluster
	const ns = "shop"
	cp, client := e.echoVersions(t, ns)

	start := time.Now()
	c.InstallIstioCRDs(t)
	c.Apply(t, ns, []byte(routeToV2))
	client.WaitForBackends(t, wait.Long, "echo-v2")
	t.Logf("routing through CRDs installed after start took effect %v after the install", time.Since(start).Round(time.Millisecond))
	cp.checkRBAC(t)
}
