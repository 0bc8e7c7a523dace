package xds

import (
	"context"
	"time"

	"github.com/pilotlight/pilotlight/translate/analyze"
)

// Run installs updates until ctx ends: the single debounce of the server.
// An update waits for a quiet period (Debounce) with no newer update, but
// never longer than DebounceMax after the first update of the window;
// then the newest snapshot is installed and the watches it changes are
// answered. When ctx ends, every ADS stream ends too.
func (s *Server) Run(ctx context.Context) error {
	defer s.stop()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var first, last time.Time
	waiting := false
	for {
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-s.kick:
			now := time.Now()
			if !waiting {
				first, waiting = now, true
			}
			last = now
			deadline := last.Add(s.opts.Debounce)
			if limit := first.Add(s.opts.DebounceMax); limit.Before(deadline) {
				deadline = limit
			}
			timer.Reset(time.Until(deadline))
		case <-timer.C:
			waiting = false
			s.installPending(first)
		}
	}
}

func (s *Server) installPending(windowStart time.Time) {
	s.mu.Lock()
	snap := s.pending
	s.pending = nil
	s.mu.Unlock()
	if snap == nil {
		return
	}
	now := time.Now()
	s.metrics.debounce.Observe(now.Sub(windowStart).Seconds())
	s.cache.install(snap, now)
	// Analysis runs after the push, off its critical path.
	findings := analyze.Run(snap)
	s.findings.Store(&findings)
	s.countProblems()
}
