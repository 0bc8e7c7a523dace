// Package wait polls for conditions in end-to-end tests. Deadlines are
// generous because the tests share two busy cores with other work; a
// condition that holds returns at once, so a long deadline costs nothing
// when things work. Nothing here sleeps for a fixed time as an assertion.
package wait

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// Default deadlines.
const (
	// Short is for things that take well under a second on an idle
	// machine: an object reaching an informer, a push reaching a client.
	Short = 60 * time.Second
	// Long is for start-ups and whole-cluster reactions.
	Long = 3 * time.Minute
)

// interval is the polling period: fine enough to measure latencies in
// tens of milliseconds, coarse enough not to load the machine.
const interval = 20 * time.Millisecond

// For polls cond until it returns nil and returns how long that took. If
// timeout passes first, the test fails with what and cond's last error.
func For(t testing.TB, timeout time.Duration, what string, cond func() error) time.Duration {
	t.Helper()
	d, err := Until(context.Background(), timeout, cond)
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
	return d
}

// Until polls cond until it returns nil, ctx ends or timeout passes, and
// returns how long it took or why it gave up (with cond's last error).
func Until(ctx context.Context, timeout time.Duration, cond func() error) (time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return time.Since(start), nil
		}
		select {
		case <-ctx.Done():
			return time.Since(start), fmt.Errorf("gave up after %v: %w", time.Since(start).Round(time.Millisecond), err)
		case <-tick.C:
		}
	}
}
