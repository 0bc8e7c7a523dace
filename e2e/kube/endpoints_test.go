package kube

import (
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/e2e/framework/build"
	"github.com/pilotlight/pilotlight/e2e/framework/wait"
	"github.com/pilotlight/pilotlight/e2e/framework/workload"
)

// TestEndpointChanges runs the Kubernetes source against a real API server
// and EndpointSlice controller: a proxyless gRPC client routed by
// pilotlight reaches every Ready Pod of a Service and no other, and when a
// Pod is deleted, turns NotReady or turns Ready, calls follow within a
// (generous) deadline while pilotlight pushes EDS and nothing else.
func TestEndpointChanges(t *testing.T) {
	e := newEnv(t)
	c := e.cluster
	const ns = "shop"
	c.CreateNamespace(t, ns, nil)
	c.CreateNode(t, "node-a", "region-1", "zone-a")
	c.CreateNode(t, "node-b", "region-1", "zone-b")
	for _, w := range []workload.Spec{
		{Name: "echo-1", Node: "node-a", Labels: map[string]string{"app": "echo", "version": "v1"}},
		{Name: "echo-2", Node: "node-b", Labels: map[string]string{"app": "echo", "version": "v1"}},
		{Name: "echo-3", Node: "node-a", Labels: map[string]string{"app": "echo", "version": "v2"}},
		{Name: "echo-4", Node: "node-b", Labels: map[string]string{"app": "echo", "version": "v2"}},
	} {
		w.Namespace = ns
		workload.Run(t, c, e.network, e.bins.Path(build.Backend), w)
	}
	// echo-4 runs but fails its readiness probe.
	c.SetPodReady(t, ns, "echo-4", false)
	c.CreateService(t, grpcService(ns, "echo", "echo"))

	cp := e.startPilotlight(t)
	client := e.client(t, cp, ns, "client", target(ns, "echo"))
	took := client.WaitForBackends(t, wait.Long, "echo-1", "echo-2", "echo-3")
	t.Logf("first calls reached every Ready backend %v after the client started", took.Round(time.Millisecond))
	cp.checkRBAC(t)

	// Each step changes one Pod as a kubelet or a user would, and measures
	// how long until calls follow.
	steps := []struct {
		what   string
		change func()
		want   []string
	}{
		{"delete echo-1 (Terminating)", func() { c.DeletePod(t, ns, "echo-1", 30*time.Second) }, []string{"echo-2", "echo-3"}},
		{"echo-3 NotReady", func() { c.SetPodReady(t, ns, "echo-3", false) }, []string{"echo-2"}},
		{"echo-4 Ready", func() { c.SetPodReady(t, ns, "echo-4", true) }, []string{"echo-2", "echo-4"}},
		{"delete echo-2 at once", func() { c.DeletePod(t, ns, "echo-2", 0) }, []string{"echo-4"}},
	}
	for _, s := range steps {
		before := cp.pushes(t)
		start := time.Now()
		s.change()
		client.WaitForBackends(t, wait.Short, s.want...)
		took := time.Since(start)
		after := cp.pushes(t)
		t.Logf("%s: calls reach only %v after %v (EDS pushes +%v, others +%v)",
			s.what, s.want, took.Round(time.Millisecond), after.eds-before.eds, after.other-before.other)
		checkEndpointOnly(t, s.what, before, after)
	}
}
