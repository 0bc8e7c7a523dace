package kube

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/e2e/framework/build"
	"github.com/pilotlight/pilotlight/e2e/framework/wait"
	"github.com/pilotlight/pilotlight/e2e/framework/workload"
)

// outage is how long the link to the API server stays cut.
const outage = 30 * time.Second

// TestAPIServerOutage cuts pilotlight's link to the API server for 30 s
// while an application's calls flow: no call fails, a client that starts
// during the outage still gets its whole config, /ready and the metrics
// say the source is disconnected, and a change made at the API server
// meanwhile reaches the clients once the link is back, pushed as EDS only.
func TestAPIServerOutage(t *testing.T) {
	e := newEnv(t)
	c := e.cluster
	const ns = "shop"
	c.CreateNamespace(t, ns, nil)
	c.CreateNode(t, "node-a", "region-1", "zone-a")
	w := map[string]*workload.Workload{}
	for _, name := range []string{"echo-1", "echo-2"} {
		w[name] = workload.Run(t, c, e.network, e.bins.Path(build.Backend), workload.Spec{
			Namespace: ns, Name: name, Node: "node-a", Labels: map[string]string{"app": "echo"},
		})
	}
	c.CreateService(t, grpcService(ns, "echo", "echo"))
	cp := e.startPilotlight(t)
	first := e.client(t, cp, ns, "client-1", target(ns, "echo"))
	first.WaitForBackends(t, wait.Long, "echo-1", "echo-2")
	if got := cp.metrics(t).Sum("pilotlight_kube_connected"); got != 1 {
		t.Fatalf("pilotlight_kube_connected = %v before the outage, want 1", got)
	}
	flow := first.Start(20 * time.Millisecond)
	before := cp.pushes(t)
	disconnects := cp.metrics(t).Sum("pilotlight_kube_disconnects_total")

	cut := time.Now()
	cp.link.Stop()
	took := wait.For(t, wait.Short, "pilotlight to report the outage", func() error {
		code, body, err := cp.Get("/ready")
		if err != nil {
			return err
		}
		// Still ready (it serves the last state), but degraded.
		if code != 200 || !strings.Contains(body, "degraded") {
			return fmt.Errorf("/ready: %d %q", code, body)
		}
		m, err := cp.Metrics()
		if err != nil {
			return err
		}
		if m.Sum("pilotlight_kube_connected") != 0 || m.Sum("pilotlight_kube_disconnects_total") <= disconnects {
			return errors.New("metrics do not show the outage yet")
		}
		return nil
	})
	t.Logf("outage reported %v after the link was cut", took.Round(time.Millisecond))

	// A proxy that connects now gets the last good state in full.
	second := e.client(t, cp, ns, "client-2", target(ns, "echo"))
	second.WaitForBackends(t, wait.Short, "echo-1", "echo-2")

	// A change pilotlight cannot see yet.
	c.SetPodReady(t, ns, "echo-2", false)
	c.WaitForEndpoints(t, ns, "echo", w["echo-1"].Addr)

	// The link stays down for the whole outage while calls flow.
	for time.Since(cut) < outage {
		if err := cp.Process().ExitError(); err != nil {
			t.Fatalf("pilotlight died during the outage: %v", err)
		}
		time.Sleep(time.Second)
	}
	if got := first.Sample(30); got["echo-2"] == 0 {
		t.Errorf("calls during the outage stopped reaching echo-2 (%v): pilotlight cannot have seen the change", got)
	}

	back := time.Now()
	if err := cp.link.Start(); err != nil {
		t.Fatal(err)
	}
	first.WaitForBackends(t, wait.Long, "echo-1")
	t.Logf("the change made during the outage reached calls %v after the link returned", time.Since(back).Round(time.Millisecond))
	wait.For(t, wait.Long, "pilotlight to report the link back", func() error {
		code, body, err := cp.Get("/ready")
		if err != nil {
			return err
		}
		if code != 200 || strings.Contains(body, "degraded") {
			return fmt.Errorf("/ready: %d %q", code, body)
		}
		m, err := cp.Metrics()
		if err != nil {
			return err
		}
		if m.Sum("pilotlight_kube_connected") != 1 {
			return errors.New("pilotlight_kube_connected is not 1 yet")
		}
		return nil
	})
	second.WaitForBackends(t, wait.Short, "echo-1")

	stats := flow.Stop()
	if len(stats.Failures) > 0 {
		t.Errorf("%d of %d calls failed across the outage, first: %v", len(stats.Failures), stats.Calls, stats.Failures[0])
	}
	t.Logf("%d calls across the outage, by backend %v", stats.Calls, stats.Backends)
	checkEndpointOnly(t, "resync after the outage", before, cp.pushes(t))
}
