package kube

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pilotlight/pilotlight/e2e/framework/build"
	"github.com/pilotlight/pilotlight/e2e/framework/pilotlight"
	"github.com/pilotlight/pilotlight/e2e/framework/wait"
	"github.com/pilotlight/pilotlight/e2e/framework/workload"
	"github.com/pilotlight/pilotlight/translate/resource"
	"github.com/pilotlight/pilotlight/xds/client"
)

// TestRestartBeforeSync restarts pilotlight while it cannot list from the
// API server: until its informers have synced it is not ready and refuses
// streams with Unavailable, so a proxy never gets an empty config; once
// the API server answers, every client, old or new, gets the whole config.
func TestRestartBeforeSync(t *testing.T) {
	e := newEnv(t)
	c := e.cluster
	const ns = "shop"
	c.CreateNamespace(t, ns, nil)
	c.CreateNode(t, "node-a", "region-1", "zone-a")
	workload.Run(t, c, e.network, e.bins.Path(build.Backend), workload.Spec{
		Namespace: ns, Name: "echo-1", Node: "node-a", Labels: map[string]string{"app": "echo"},
	})
	c.CreateService(t, grpcService(ns, "echo", "echo"))
	cp := e.startPilotlight(t)
	early := e.client(t, cp, ns, "client-1", target(ns, "echo"))
	early.WaitForBackends(t, wait.Long, "echo-1")

	// The restarted pilotlight finds the API server unreachable.
	cp.link.Stop()
	cp.Restart(t)
	wait.For(t, wait.Long, "the restarted pilotlight to answer /ready with 503", func() error {
		code, body, err := cp.Get("/ready")
		if err != nil {
			return err
		}
		if code != http.StatusServiceUnavailable {
			return fmt.Errorf("/ready: %d %q", code, body)
		}
		return nil
	})

	// pilotlight's own ADS client sees exactly what a proxy is told.
	node := cp.Node(t, pilotlight.Workload{IP: e.network.Host.String(), Pod: "client-3", Namespace: ns, Region: "region-1", Zone: "zone-a"})
	ctx, cancel := context.WithTimeout(context.Background(), wait.Short)
	defer cancel()
	ads, err := client.Dial(ctx, cp.GRPCAddr, node, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ads.Close()
	if err := ads.Subscribe(resource.ListenerType, target(ns, "echo")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ads.Done():
	case <-ctx.Done():
		t.Fatal("an ADS stream opened before the informers synced was neither refused nor answered")
	}
	if code := status.Code(ads.Err()); code != codes.Unavailable {
		t.Errorf("ADS stream before sync ended with %v (%v), want Unavailable", code, ads.Err())
	}
	if n := ads.Stats().Responses; n != 0 {
		t.Errorf("ADS stream before sync got %d responses, want none", n)
	}

	// A grpc-go application starting now gets no config: its calls fail
	// and never reach anything.
	late := e.client(t, cp, ns, "client-2", target(ns, "echo"))
	if name, err := late.Call(); err == nil {
		t.Errorf("a call before sync reached %q", name)
	} else {
		t.Logf("a call before sync failed with %v", status.Code(err))
	}
	if err := cp.Ready(); err == nil {
		t.Error("pilotlight became ready while the API server was unreachable")
	}

	back := time.Now()
	if err := cp.link.Start(); err != nil {
		t.Fatal(err)
	}
	cp.WaitReady(t)
	t.Logf("pilotlight ready %v after the API server became reachable", time.Since(back).Round(time.Millisecond))
	late.WaitForBackends(t, wait.Long, "echo-1")
	early.WaitForBackends(t, wait.Long, "echo-1")
	t.Logf("both clients served %v after the API server became reachable", time.Since(back).Round(time.Millisecond))
}
