package traffic

import (
	"sync"
	"time"
)

// Flow is a steady stream of calls in the background, as an application
// under load makes, recording every outcome.
type Flow struct {
	c    *Client
	stop chan struct{}
	done chan struct{}

	mu       sync.Mutex
	calls    int
	backends map[string]int
	failures []error
}

// Start begins calling every interval until Stop.
func (c *Client) Start(interval time.Duration) *Flow {
	f := &Flow{c: c, stop: make(chan struct{}), done: make(chan struct{}), backends: map[string]int{}}
	go f.run(interval)
	return f
}

func (f *Flow) run(interval time.Duration) {
	defer close(f.done)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		name, err := f.c.Call()
		f.mu.Lock()
		f.calls++
		if err != nil {
			f.failures = append(f.failures, err)
		} else {
			f.backends[name]++
		}
		f.mu.Unlock()
		select {
		case <-f.stop:
			return
		case <-tick.C:
		}
	}
}

// FlowStats are the outcomes of a Flow so far.
type FlowStats struct {
	Calls    int
	Backends map[string]int
	Failures []error
}

// Stats returns the outcomes so far.
func (f *Flow) Stats() FlowStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := make(map[string]int, len(f.backends))
	for k, v := range f.backends {
		b[k] = v
	}
	return FlowStats{Calls: f.calls, Backends: b, Failures: append([]error(nil), f.failures...)}
}

// Stop ends the flow, waits for the call in progress, and returns the
// final outcomes.
func (f *Flow) Stop() FlowStats {
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
	<-f.done
	return f.Stats()
}
