package kube

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	"k8s.io/client-go/tools/cache"

	"github.com/pilotlight/pilotlight/discovery/convert"
	"github.com/pilotlight/pilotlight/translate/model"
)

// ProblemSource is the Source of every problem this package reports.
const ProblemSource = "kubernetes"

// Source serves the mesh held by a Kubernetes API server. Create it with
// New and start it with Run, once.
type Source struct {
	opts    Options
	log     *zap.Logger
	store   *convert.Store
	metrics *metrics
	monitor *monitor
	// dirty holds one signal: something changed since the last build.
	dirty chan struct{}

	mu sync.Mutex
	// problems are the validation problems of Istio objects, by object.
	problems map[convert.Key][]model.Problem
	// mesh is the last good mesh configuration, meshProblems what is wrong
	// with the ConfigMap's current one.
	mesh         *meshv1alpha1.MeshConfig
	meshProblems []model.Problem
	filter       namespaceFilter
	// nsLabels are the labels of every Namespace seen, for the filter.
	nsLabels map[string]map[string]string
	// started are the Istio kinds whose informers run, and istioSyncs
	// tells whether they have listed. Objects of a kind that has not listed
	// yet are left out of Snapshots: a partial list of
	// AuthorizationPolicies, for one, could deny what a policy not yet seen
	// allows.
	started    map[convert.Kind]bool
	istioSyncs map[convert.Kind][]cache.InformerSynced
	// informers are all running informers by name, for the logs of a sync
	// that takes long.
	informers []namedSync
}

// namedSync is an informer's (or a handler's) sync state, named for logs.
type namedSync struct {
	name   string
	synced cache.InformerSynced
}

// New returns a Source. Nothing is read until Run.
func New(opts Options) *Source {
	opts.setDefaults()
	s := &Source{
		opts:       opts,
		log:        opts.Logger.Named("kube"),
		store:      convert.NewStore(),
		dirty:      make(chan struct{}, 1),
		problems:   map[convert.Key][]model.Problem{},
		mesh:       opts.Mesh,
		nsLabels:   map[string]map[string]string{},
		started:    map[convert.Kind]bool{},
		istioSyncs: map[convert.Kind][]cache.InformerSynced{},
	}
	if s.mesh == nil {
		s.mesh = model.DefaultMeshConfig()
	}
	if len(opts.WatchNamespaces) > 0 {
		s.filter.watch = map[string]bool{}
		for _, ns := range opts.WatchNamespaces {
			s.filter.watch[ns] = true
		}
	}
	s.opts.Logger = s.log
	s.metrics = newMetrics(opts.Registry)
	s.monitor = newMonitor(s.opts, s.metrics)
	return s
}

// Health reports the link to the API server.
func (s *Source) Health() Health { return s.monitor.Health() }

// Run starts the informers, waits until every one of them has listed, then
// publishes the mesh and publishes again after every change until ctx
// ends. publish is called from Run's goroutine, only when the Snapshot
// version or the problem list changed, exactly as the file source does.
//
// Nothing is published before the informers sync, however long that takes:
// the xDS server refuses streams until its first Snapshot, and a proxy
// must never be given a mesh that is still being listed. Run returns nil
// when ctx ends, and an error only for an unusable configuration.
func (s *Source) Run(ctx context.Context, publish func(*model.Snapshot, []model.Problem)) error {
	sel, err := CompileSelectors(s.mesh.GetDiscoverySelectors())
	if err != nil {
		return fmt.Errorf("mesh config: %w", err)
	}
	s.filter.selectors = sel

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { s.monitor.run(ctx) })

	start := time.Now()
	inf := s.newInformers()
	defer inf.shutdown()
	inf.startKube(ctx)
	present, ok := s.discoverUntil(ctx)
	if !ok {
		return nil
	}
	for _, k := range istioKinds {
		if present[k.gvr] {
			inf.startIstio(ctx, &wg, k)
		}
	}
	s.warnMissing(present)
	if !s.waitSynced(ctx) {
		return nil
	}
	s.log.Info("informers synced", zap.Duration("took", time.Since(start).Round(time.Millisecond)))
	wg.Go(func() { s.watchCRDs(ctx, inf, &wg) })

	s.publishLoop(ctx, publish)
	return nil
}

// markDirty asks the publisher for a build.
func (s *Source) markDirty() {
	select {
	case s.dirty <- struct{}{}:
	default:
	}
}

// waitSynced blocks until every informer started so far has listed and
// delivered its objects, logging the ones still listing every ten seconds
// so that a missing permission or an unreachable server is visible.
func (s *Source) waitSynced(ctx context.Context) bool {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	for {
		s.mu.Lock()
		var waiting []string
		for _, n := range s.informers {
			if !n.synced() {
				waiting = append(waiting, n.name)
			}
		}
		s.mu.Unlock()
		if len(waiting) == 0 {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			s.log.Info("waiting for informers to list; nothing is served until they have", zap.Strings("informers", waiting))
		case <-poll.C:
		}
	}
}
