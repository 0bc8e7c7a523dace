// Package traffic drives gRPC calls through pilotlight the way a proxyless
// application does: grpc-go's own xDS resolver, given a bootstrap that
// points at pilotlight, picks the backend of every call. The backends
// (cmd/e2e-backend) answer with their names, so a test sees where each
// call went.
//
// Each Client has its own xDS client inside grpc-go (the bootstrap is
// passed in, not read from the environment), so a new Client is a new
// proxy to pilotlight: a fresh ADS stream that must get its whole config.
package traffic

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/xds"

	"github.com/pilotlight/pilotlight/e2e/framework/wait"
)

// callTimeout bounds one call. Calls through a working route take
// milliseconds; the bound turns a hang into a failure a test can count.
const callTimeout = 5 * time.Second

// Client calls one xDS target.
type Client struct {
	// Target is the xDS name, HOST:PORT (pilotlight's listener name for
	// proxyless clients).
	Target string
	cc     *grpc.ClientConn
	svc    testgrpc.TestServiceClient
}

// Dial makes a client for xds:///target with the given bootstrap and
// closes it when t ends. Connecting is lazy: the ADS stream opens on the
// first call.
func Dial(t testing.TB, bootstrap []byte, target string) *Client {
	t.Helper()
	builder, err := xds.NewXDSResolverWithConfigForTesting(bootstrap)
	if err != nil {
		t.Fatalf("xDS resolver from bootstrap: %v", err)
	}
	cc, err := grpc.NewClient("xds:///"+target, grpc.WithResolvers(builder), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return &Client{Target: target, cc: cc, svc: testgrpc.NewTestServiceClient(cc)}
}

// Call makes one call and returns the name of the backend that answered.
func (c *Client) Call() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	resp, err := c.svc.UnaryCall(ctx, &testgrpc.SimpleRequest{})
	if err != nil {
		return "", err
	}
	return resp.GetHostname(), nil
}

// Sample makes n calls and counts them by backend name; failed calls
// count under "error: CODE".
func (c *Client) Sample(n int) map[string]int {
	seen := map[string]int{}
	for range n {
		name, err := c.Call()
		if err != nil {
			name = "error: " + status.Code(err).String()
		}
		seen[name]++
	}
	return seen
}

// sampleSize is how many calls WaitForBackends makes per look: with up to
// a handful of backends, a backend that is in the config and never
// answers in 30 calls is not being picked.
const sampleSize = 30

// WaitForBackends calls until a sample of calls reaches exactly the named
// backends (every one of them, no other, no failure) and returns how long
// that took.
func (c *Client) WaitForBackends(t testing.TB, timeout time.Duration, want ...string) time.Duration {
	t.Helper()
	slices.Sort(want)
	return wait.For(t, timeout, fmt.Sprintf("calls to %s to reach exactly %v", c.Target, want), func() error {
		seen := c.Sample(sampleSize)
		got := slices.Sorted(maps.Keys(seen))
		if !slices.Equal(got, want) {
			return fmt.Errorf("a sample of %d calls reached %v", sampleSize, seen)
		}
		return nil
	})
}
