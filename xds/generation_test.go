package xds

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pilotlight/pilotlight/translate/resource"
)

func TestConcurrentGetsBuildOnce(t *testing.T) {
	g := newGeneration(nil)
	var builds atomic.Int32
	var hits atomic.Int32
	key := entryKey{view: "out:x", typeURL: "t"}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			e, hit := g.get(key, func(e *entry) {
				builds.Add(1)
				time.Sleep(20 * time.Millisecond)
				e.items = []*built{{name: "a"}}
			})
			if hit {
				hits.Add(1)
			}
			if len(e.items) != 1 {
				t.Error("a waiter saw the entry before it was built")
			}
		})
	}
	wg.Wait()
	if builds.Load() != 1 || hits.Load() != 49 {
		t.Errorf("%d builds and %d hits, want 1 and 49", builds.Load(), hits.Load())
	}
}

func TestCarryOverKeepsOnlyValidEntriesOfViewsInUse(t *testing.T) {
	prev := newGeneration(nil)
	done := func(ips ...string) *entry {
		e := &entry{done: make(chan struct{}), inboundIPs: ips}
		close(e.done)
		return e
	}
	prev.entries = map[entryKey]*entry{
		{view: "out:a", typeURL: resource.ClusterType}:    done(),
		{view: "out:a", typeURL: resource.EndpointType}:   done(),
		{view: "out:gone", typeURL: resource.ClusterType}: done(),
		{view: "in:a", typeURL: resource.ClusterType}:     done("10.0.0.1"),
		{view: "in:b", typeURL: resource.ClusterType}:     done("10.0.0.2"),
		{view: "out:a", typeURL: "building"}:              {done: make(chan struct{})},
	}
	next := newGeneration(nil)
	inv := invalidation{endpoints: true, ips: map[string]struct{}{"10.0.0.2": {}}}
	inUse := func(v string) bool { return v != "out:gone" }
	if kept := carryOver(prev, next, inv, inUse); kept != 2 {
		t.Errorf("kept %d entries, want 2", kept)
	}
	for _, k := range []entryKey{
		{view: "out:a", typeURL: resource.ClusterType},
		{view: "in:a", typeURL: resource.ClusterType},
	} {
		if _, ok := next.entries[k]; !ok {
			t.Errorf("entry %+v not carried over", k)
		}
	}
}
