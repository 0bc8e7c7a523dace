package kube

import (
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/e2e/framework/build"
	"github.com/pilotlight/pilotlight/e2e/framework/cluster"
	"github.com/pilotlight/pilotlight/e2e/framework/wait"
	"github.com/pilotlight/pilotlight/e2e/framework/workload"
)

// TestIstioCRDsInstalledLater starts pilotlight on a cluster without
// Istio: it serves the Kubernetes services all the same, and when Istio's
// CRDs are installed afterwards it starts watching them, so routing
// configured through them takes effect without a restart.
func TestIstioCRDsInstalledLater(t *testing.T) {
	e := newEnvWith(t, cluster.Options{WithoutIstioCRDs: true})
	c := e.cluster
	const ns = "shop"
	c.CreateNamespace(t, ns, nil)
	c.CreateNode(t, "node-a", "region-1", "zone-a")
	for _, w := range []workload.Spec{
		{Name: "echo-v1", Labels: map[string]string{"app": "echo", "version": "v1"}},
		{Name: "echo-v2", Labels: map[string]string{"app": "echo", "version": "v2"}},
	} {
		w.Namespace, w.Node = ns, "node-a"
		workload.Run(t, c, e.network, e.bins.Path(build.Backend), w)
	}
	c.CreateService(t, grpcService(ns, "echo", "echo"))
	cp := e.startPilotlight(t)
	client := e.client(t, cp, ns, "client", target(ns, "echo"))
	client.WaitForBackends(t, wait.Long, "echo-v1", "echo-v2")

	start := time.Now()
	c.InstallIstioCRDs(t)
	c.Apply(t, ns, []byte(routeToV2))
	client.WaitForBackends(t, wait.Long, "echo-v2")
	t.Logf("routing through CRDs installed after start took effect %v after the install", time.Since(start).Round(time.Millisecond))
	cp.checkRBAC(t)
}
