package file

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/pilotlight/pilotlight/discovery"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"

	"github.com/pilotlight/pilotlight/translate/model"
)

// Run publishes the directory's state, then publishes again after every
// change until ctx is done. It watches the directory itself, not the
// files, so new files, deletions, and editors or ConfigMap mounts that
// replace a file by renaming another over it are all seen.
//
// Every event re-reads the whole directory; events that arrive while a load
// runs are coalesced into one more load. There is deliberately no debounce
// here: the xDS server owns the only one. publish is called from Run's
// goroutine, only when the Snapshot version or the problem list changed.
//
// Run returns an error when the watch cannot be set up or the first load
// fails; later load failures (the directory vanished) are logged and the
// last published state stays.
func (s *Source) Run(ctx context.Context, publish func(*model.Snapshot, []model.Problem)) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("config directory: watch: %w", err)
	}
	// The watch starts before the first load so that no change can fall
	// between the two.
	if err := w.Add(s.dir); err != nil {
		w.Close()
		return fmt.Errorf("config directory: watch %s: %w", s.dir, err)
	}
	changed := make(chan struct{}, 1)
	var wg sync.WaitGroup
	wg.Go(func() { s.forward(ctx, w, changed) })
	defer func() {
		w.Close()
		wg.Wait()
	}()

	snap, problems, err := s.Load()
	if err != nil {
		return err
	}
	s.report(snap, nil, problems)
	publish(snap, problems)

	for {
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
		next, nextProblems, err := s.Load()
		if err != nil {
			s.log.Error("cannot read the config directory; serving the last good state", zap.Error(err))
			continue
		}
		if next.Version == snap.Version && slices.Equal(nextProblems, problems) {
			continue
		}
		s.report(next, problems, nextProblems)
		snap, problems = next, nextProblems
		publish(snap, problems)
	}
}

// forward turns watcher events into a pending-load signal. The channel
// holds one signal: however many events arrive during a load, one more load
// follows it, and it reads the directory as it is by then.
func (s *Source) forward(ctx context.Context, w *fsnotify.Watcher, changed chan<- struct{}) {
	signal := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			s.log.Debug("config directory event", zap.String("file", ev.Name), zap.Stringer("op", ev.Op))
			signal()
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			// An overflow means events were lost; a full reload recovers
			// from that as from any other change.
			s.log.Warn("config directory watch error", zap.Error(err))
			signal()
		}
	}
}

// report logs a published state and the problems that are new since the
// last one, so that a problem is logged once, not on every reload.
func (s *Source) report(snap *model.Snapshot, before, after []model.Problem) {
	services, endpoints, configs := snap.Counts()
	s.log.Info("config directory loaded",
		zap.String("version", snap.Version),
		zap.Int("services", services),
		zap.Int("endpoints", endpoints),
		zap.Int("configs", configs),
		zap.Int("problems", len(after)))
	discovery.LogNewProblems(s.log, before, after)
}
