package file

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/pilotlight/pilotlight/translate/model"
)

// waitTimeout is generous: a busy 2-core machine can be slow to deliver
// file events and to run a load.
const waitTimeout = 10 * time.Second

// published is one call of the publish callback.
type published struct {
	snap     *model.Snapshot
	problems []model.Problem
}

// recorder runs a Source and records everything it publishes.
type recorder struct {
	mu   sync.Mutex
	seen []published
}

func (r *recorder) publish(snap *model.Snapshot, problems []model.Problem) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, published{snap, problems})
}

func (r *recorder) all() []published {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seen)
}

// waitFor polls until the latest publication satisfies cond.
func (r *recorder) waitFor(t *testing.T, what string, cond func(published) bool) published {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		if all := r.all(); len(all) > 0 && cond(all[len(all)-1]) {
			return all[len(all)-1]
		}
		if time.Now().After(deadline) {
			all := r.all()
			if len(all) == 0 {
				t.Fatalf("timed out waiting for %s: nothing published", what)
			}
			last := all[len(all)-1]
			t.Fatalf("timed out waiting for %s; %d publications, last has services %v and problems %v",
				what, len(all), hostnames(last.snap), last.problems)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func hostnames(snap *model.Snapshot) []string {
	var out []string
	for _, s := range snap.Services() {
		out = append(out, s.Hostname)
	}
	return out
}

// run starts Run on dir and stops it when the test ends, checking that it
// returns cleanly.
func run(t *testing.T, dir string) *recorder {
	t.Helper()
	r := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	src := New(dir, Options{Logger: zaptest.NewLogger(t)})
	go func() { done <- src.Run(ctx, r.publish) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(waitTimeout):
			t.Error("Run did not return after cancel")
		}
	})
	return r
}

func portsAre(host string, want ...uint32) func(published) bool {
	return func(p published) bool { return slices.Equal(servicePorts(p.snap, host), want) }
}

// One Run through every kind of change a directory sees.
func TestRunFollowsChanges(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a.yaml", serviceYAML("web", "shop", 80))
	r := run(t, dir)
	r.waitFor(t, "initial load", portsAre(webHost, 80))

	// Edited in place.
	write(t, dir, "a.yaml", serviceYAML("web", "shop", 81))
	r.waitFor(t, "in-place edit", portsAre(webHost, 81))

	// A new file.
	apiHost := "api.shop.svc.cluster.local"
	write(t, dir, "b.yaml", serviceYAML("api", "shop", 90))
	r.waitFor(t, "new file", portsAre(apiHost, 90))

	// Replaced by rename, as editors and ConfigMap mounts do.
	replace(t, dir, "b.yaml", serviceYAML("api", "shop", 91))
	r.waitFor(t, "rename-style write", portsAre(apiHost, 91))

	// Broken: the last good version stays and the problem is published.
	write(t, dir, "b.yaml", "kind: [\n")
	p := r.waitFor(t, "broken file reported", func(p published) bool {
		return slices.ContainsFunc(p.problems, func(q model.Problem) bool { return strings.Contains(q.Message, "invalid YAML") })
	})
	if !slices.Equal(servicePorts(p.snap, apiHost), []uint32{91}) {
		t.Errorf("broken file: api ports %v, want the last good [91]", servicePorts(p.snap, apiHost))
	}

	// Fixed again.
	replace(t, dir, "b.yaml", serviceYAML("api", "shop", 92))
	r.waitFor(t, "fixed file", func(p published) bool {
		return len(p.problems) == 0 && slices.Equal(servicePorts(p.snap, apiHost), []uint32{92})
	})

	// Deleted.
	remove(t, dir, "b.yaml")
	r.waitFor(t, "deletion", func(p published) bool { return p.snap.Service(apiHost) == nil })

	// An unknown kind is a warning and changes nothing else.
	write(t, dir, "c.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\n")
	p = r.waitFor(t, "unknown kind warning", func(p published) bool { return len(p.problems) == 1 })
	if !p.problems[0].Warning || !slices.Equal(servicePorts(p.snap, webHost), []uint32{81}) {
		t.Errorf("unknown kind: problems %v, web ports %v", p.problems, servicePorts(p.snap, webHost))
	}
}

// Events that change nothing (a rewrite with the same content, a touch, a
// file that is not YAML) publish nothing: every publication is a change.
func TestRunPublishesOnlyChanges(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a.yaml", serviceYAML("web", "shop", 80))
	r := run(t, dir)
	r.waitFor(t, "initial load", portsAre(webHost, 80))

	// An in-place write is left out on purpose: it passes through an empty
	// file, which is a change worth publishing (a warning).
	replace(t, dir, "a.yaml", serviceYAML("web", "shop", 80))
	now := time.Now()
	if err := os.Chtimes(filepath.Join(dir, "a.yaml"), now, now); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "notes.txt", "not config")
	replace(t, dir, "a.yaml", serviceYAML("web", "shop", 81))
	r.waitFor(t, "the real change", portsAre(webHost, 81))

	all := r.all()
	if len(all) != 2 {
		var versions []string
		for _, p := range all {
			versions = append(versions, p.snap.Version)
		}
		t.Errorf("published %d times (versions %v), want 2: the initial state and the change", len(all), versions)
	}
}

// A burst of writes ends in the state of the last one, however the events
// were coalesced.
func TestRunBurst(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a.yaml", serviceYAML("web", "shop", 1000))
	r := run(t, dir)
	r.waitFor(t, "initial load", portsAre(webHost, 1000))
	for port := 1001; port <= 1050; port++ {
		replace(t, dir, "a.yaml", serviceYAML("web", "shop", port))
	}
	r.waitFor(t, "the last write of the burst", portsAre(webHost, 1050))
	for i, p := range r.all() {
		if len(p.problems) != 0 {
			t.Errorf("publication %d has problems %v", i, p.problems)
		}
	}
}

func TestRunMissingDirectory(t *testing.T) {
	src := New(filepath.Join(t.TempDir(), "nope"), Options{})
	err := src.Run(context.Background(), func(*model.Snapshot, []model.Problem) {
		t.Error("published for a missing directory")
	})
	if err == nil {
		t.Error("Run on a missing directory should fail")
	}
}
