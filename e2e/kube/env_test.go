package kube

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/e2e/framework/build"
	"github.com/pilotlight/pilotlight/e2e/framework/cluster"
	"github.com/pilotlight/pilotlight/e2e/framework/netns"
)

// buildTimeout bounds building every binary on a cold cache (about five
// minutes on two cores, more when the machine is shared).
const buildTimeout = 30 * time.Minute

var (
	buildOnce sync.Once
	layout    build.Layout
	bins      build.Binaries
	buildErr  error

	pilotlightOnce sync.Once
	pilotlightBin  string
	pilotlightErr  error
)

// binaries builds the peers (or takes them from e2e/bin), the backend and
// the proxyless application, once per test process. A failure fails every
// test that needs them, loudly.
func binaries(t testing.TB) (build.Layout, build.Binaries) {
	t.Helper()
	buildOnce.Do(func() {
		layout, buildErr = build.Locate()
		if buildErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		defer cancel()
		start := time.Now()
		if bins, buildErr = build.Peers(ctx, layout, os.Stderr); buildErr != nil {
			return
		}
		for _, local := range []string{build.Backend, build.XDSApp} {
			if bins[local], buildErr = build.Local(ctx, layout, local, os.Stderr); buildErr != nil {
				return
			}
		}
		t.Logf("peers, backend and proxyless application ready in %v", time.Since(start).Round(time.Millisecond))
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return layout, bins
}

// pilotlightBinary builds pilotlight from the checkout, once per test process.
// It is separate from the peers so that the test bed's own tests run even
// while pilotlight does not build.
func pilotlightBinary(t testing.TB) string {
	t.Helper()
	l, _ := binaries(t)
	pilotlightOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		defer cancel()
		pilotlightBin, pilotlightErr = build.Local(ctx, l, build.Pilotlight, os.Stderr)
	})
	if pilotlightErr != nil {
		t.Fatal(pilotlightErr)
	}
	return pilotlightBin
}

// env is what most tests start from: a cluster and a pod network.
type env struct {
	layout  build.Layout
	bins    build.Binaries
	cluster *cluster.Cluster
	network *netns.Network
}

// newEnv checks that the machine can run the tests (root, iproute2; a
// missing one fails the test rather than skipping it, since CI runs as
// root), then starts a cluster with Istio's CRDs and a pod network.
func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, cluster.Options{})
}

// newEnvWith is newEnv with cluster options.
func newEnvWith(t *testing.T, opts cluster.Options) *env {
	t.Helper()
	if err := netns.Check(); err != nil {
		t.Fatalf("e2e tests cannot run here: %v", err)
	}
	l, b := binaries(t)
	e := &env{layout: l, bins: b}
	e.cluster = cluster.Start(t, b, opts)
	e.network = netns.New(t)
	return e
}
