package kube

import (
	"cmp"
	"context"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/pilotlight/pilotlight/discovery"
	"github.com/pilotlight/pilotlight/discovery/convert"
	"github.com/pilotlight/pilotlight/translate/model"
)

// publishLoop builds and publishes the first Snapshot, then rebuilds after
// every change. A burst of events costs one build: after the first event
// the loop waits Coalesce for the rest, or as long as the last build took
// if that is longer, so that endless churn (a rolling update of a large
// mesh) keeps at most half a core building. A build whose Snapshot version
// and problems equal the last published ones is dropped, so a relist that
// changes nothing pushes nothing.
func (s *Source) publishLoop(ctx context.Context, publish func(*model.Snapshot, []model.Problem)) {
	var last *model.Snapshot
	var lastProblems []model.Problem
	timer := time.NewTimer(0)
	<-timer.C
	for {
		started := time.Now()
		snap, problems := s.build()
		took := time.Since(started)
		s.metrics.builds.Inc()
		if last == nil || snap.Version != last.Version || !slices.Equal(problems, lastProblems) {
			s.report(last == nil, snap, lastProblems, problems)
			publish(snap, problems)
			s.metrics.published.Inc()
			last, lastProblems = snap, problems
		}
		select {
		case <-ctx.Done():
			return
		case <-s.dirty:
		}
		timer.Reset(max(s.opts.Coalesce, took))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		// The build below sees every change made so far.
		select {
		case <-s.dirty:
		default:
		}
	}
}

// build converts the Store with the current mesh config and filters.
func (s *Source) build() (*model.Snapshot, []model.Problem) {
	s.mu.Lock()
	mesh := s.mesh
	include := s.includeLocked()
	problems := slices.Clone(s.meshProblems)
	keys := make([]convert.Key, 0, len(s.problems))
	for k := range s.problems {
		if include == nil || include(k) {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b convert.Key) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	for _, k := range keys {
		problems = append(problems, s.problems[k]...)
	}
	s.mu.Unlock()
	return s.store.BuildSelected(mesh, s.opts.DomainSuffix, include), problems
}

// includeLocked returns which stored objects enter the next Snapshot, or
// nil for all of them: not those of Istio kinds still listing, nor those
// of namespaces outside the mesh. Nodes are cluster-wide and always in.
func (s *Source) includeLocked() func(convert.Key) bool {
	pending := map[convert.Kind]bool{}
	for kind, syncs := range s.istioSyncs {
		for _, synced := range syncs {
			if !synced() {
				pending[kind] = true
			}
		}
	}
	var selected map[string]bool
	if !s.filter.all() {
		selected = map[string]bool{}
		for ns := range s.filter.watch {
			_, known := s.nsLabels[ns]
			if s.filter.selects(ns, s.nsLabels[ns], known) {
				selected[ns] = true
			}
		}
		if len(s.filter.watch) == 0 {
			for ns, l := range s.nsLabels {
				if s.filter.selects(ns, l, true) {
					selected[ns] = true
				}
			}
		}
	}
	if len(pending) == 0 && selected == nil {
		return nil
	}
	return func(k convert.Key) bool {
		if pending[k.Kind] {
			return false
		}
		if selected == nil {
			return true
		}
		switch {
		case k.Kind == convert.KindNamespace:
			return selected[k.Name]
		case k.Namespace == "":
			return true
		}
		return selected[k.Namespace]
	}
}

// report logs a published state, at info for the first one, and the
// problems that are new since the last, so that each is logged once.
func (s *Source) report(first bool, snap *model.Snapshot, before, after []model.Problem) {
	services, endpoints, configs := snap.Counts()
	fields := []zap.Field{
		zap.String("version", snap.Version),
		zap.Int("services", services),
		zap.Int("endpoints", endpoints),
		zap.Int("configs", configs),
		zap.Int("problems", len(after)),
	}
	if first {
		s.log.Info("first mesh state published", fields...)
	} else {
		s.log.Debug("mesh state published", fields...)
	}
	discovery.LogNewProblems(s.log, before, after)
}
