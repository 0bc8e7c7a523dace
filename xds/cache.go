package xds

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/server/stream/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/pilotlight/pilotlight/translate"
	"github.com/pilotlight/pilotlight/translate/model"
	"github.com/pilotlight/pilotlight/translate/resource"
)

// Cache is pilotlight's implementation of go-control-plane's cache.Cache.
// It answers every watch with exactly the resources subscribed to,
// generated on demand from the current snapshot and the proxy's view and
// shared between proxies with equal views, and it keeps each watch open
// until something it watches changes.
type Cache struct {
	log     *zap.Logger
	metrics *metrics
	builder builder
	// generatorFor picks the generator of a flavour; tests replace it.
	generatorFor func(model.Flavor) (translate.Generator, error)
	// serveCredentials: see Options.ServeCredentials and sds.go.
	serveCredentials bool
	// workload mints plain Envoys' workload secrets once the TLS port
	// is served with a CA (workload.go).
	workload atomic.Pointer[workloadSecrets]
	// secretsAuthz decides which authenticated streams get gateway
	// certificates (sds.go); set by RegisterAuthenticated before the TLS
	// port serves, nil allows all.
	secretsAuthz SecretsAuthorizer

	current atomic.Pointer[generation]
	// pushed is the last snapshot whose push has finished.
	pushed atomic.Pointer[model.Snapshot]

	mu      sync.Mutex
	watches map[*watch]struct{}
	streams map[streamKey]*proxyStream
	// pendingReqs ties a request to its stream between the request
	// callback and CreateWatch.
	pendingReqs map[any]*proxyStream
	// viewRefs counts open streams per view key; entries of views no
	// stream uses are not carried into the next generation.
	viewRefs map[string]int
}

var _ cachev3.Cache = (*Cache)(nil)

func newCache(log *zap.Logger, m *metrics) *Cache {
	return &Cache{
		log:          log,
		metrics:      m,
		builder:      builder{log: log, metrics: m},
		generatorFor: translate.For,
		watches:      map[*watch]struct{}{},
		streams:      map[streamKey]*proxyStream{},
		pendingReqs:  map[any]*proxyStream{},
		viewRefs:     map[string]int{},
	}
}

// Ready reports whether a snapshot is installed.
func (c *Cache) Ready() bool { return c.current.Load() != nil }

// Snapshot returns the installed snapshot, or nil.
func (c *Cache) Snapshot() *model.Snapshot {
	if g := c.current.Load(); g != nil {
		return g.snap
	}
	return nil
}

// CreateWatch opens a SotW watch and answers it at once if the client's
// state differs from its subscription's current state.
func (c *Cache) CreateWatch(req *cachev3.Request, sub cachev3.Subscription, ch chan cachev3.Response) (func(), error) {
	st, err := c.streamFor(req)
	if err != nil {
		return nil, err
	}
	if c.refusesSecrets(st, req.GetTypeUrl(), sub) {
		return func() {}, nil
	}
	w := &watch{c: c, st: st, typeURL: req.GetTypeUrl(), sub: sub, sotwReq: req, sotwCh: ch}
	c.open(w)
	return w.cancel, nil
}

// CreateDeltaWatch opens a delta watch; see CreateWatch.
func (c *Cache) CreateDeltaWatch(req *cachev3.DeltaRequest, sub cachev3.Subscription, ch chan cachev3.DeltaResponse) (func(), error) {
	st, err := c.streamFor(req)
	if err != nil {
		return nil, err
	}
	if c.refusesSecrets(st, req.GetTypeUrl(), sub) {
		return func() {}, nil
	}
	w := &watch{c: c, st: st, typeURL: req.GetTypeUrl(), sub: sub, deltaReq: req, deltaCh: ch}
	c.open(w)
	return w.cancel, nil
}

func (c *Cache) open(w *watch) {
	w.st.mu.Lock()
	w.first = w.st.typ(w.typeURL).seq == 0
	w.st.mu.Unlock()
	// Register before evaluating: a snapshot installed in between then
	// evaluates the watch again, with the newer generation.
	c.mu.Lock()
	c.watches[w] = struct{}{}
	c.mu.Unlock()
	w.evaluate(reasonInitial, time.Time{})
}

// Fetch answers a one-off REST request with the current state.
func (c *Cache) Fetch(_ context.Context, req *cachev3.Request) (cachev3.Response, error) {
	g := c.current.Load()
	if g == nil {
		return nil, status.Error(codes.Unavailable, "no configuration yet")
	}
	p, err := model.ParseProxy(req.GetNode())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "bad node: %v", err)
	}
	ov, iv := model.ViewsOf(p)
	gen, err := c.generatorFor(ov.Flavor)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "proxy %q: %v", p.ID, err)
	}
	st := &proxyStream{proxy: p, ov: ov, iv: iv, gen: gen, outKey: ov.Key(), inKey: iv.Key()}
	sub := stream.NewSotwSubscription(req.GetResourceNames(), true)
	if c.refusesSecrets(st, req.GetTypeUrl(), &sub) {
		return nil, status.Error(codes.PermissionDenied, secretsRefusedMessage)
	}
	items, _, ok := c.resolve(g, st, req.GetTypeUrl(), &sub)
	if !ok {
		return nil, status.Error(codes.Internal, "generation failed")
	}
	anys := make([]*anypb.Any, 0, len(items))
	for _, b := range items {
		anys = append(anys, b.any)
	}
	return &sotwResponse{req: req, out: &discoveryv3.DiscoveryResponse{
		VersionInfo: stateVersion(items), Resources: anys, TypeUrl: req.GetTypeUrl(),
	}}, nil
}

// install makes snap the current snapshot and wakes the watches it may
// change. It returns when every affected watch has been evaluated.
func (c *Cache) install(snap *model.Snapshot, pushStart time.Time) {
	prev := c.current.Load()
	var prevSnap *model.Snapshot
	if prev != nil {
		prevSnap = prev.snap
	}
	defer c.pushed.Store(snap)
	d := model.DiffSnapshots(prevSnap, snap)
	if prev != nil && d.Empty() {
		return
	}
	inv := invalidation{all: true}
	if prev != nil {
		inv = invalidationFor(prevSnap, snap, d)
	}
	next := newGeneration(snap)
	c.mu.Lock()
	kept := 0
	if prev != nil {
		kept = carryOver(prev, next, inv, func(view string) bool { return c.viewRefs[view] > 0 })
	}
	c.current.Store(next)
	var affected []*watch
	for w := range c.watches {
		if inv.affects(w.typeURL, &w.st.iv) {
			affected = append(affected, w)
		}
	}
	c.mu.Unlock()

	reason := pushReason(d)
	if inv.all {
		c.metrics.fullPushes.Inc()
	}
	c.log.Info("snapshot installed",
		zap.String("version", snap.Version), zap.String("reason", reason),
		zap.Int("entries_kept", kept), zap.Int("watches_woken", len(affected)))
	c.push(affected, reason, pushStart)
}

func pushReason(d model.Diff) string {
	switch {
	case d.Full || d.Mesh || len(d.Namespaces) > 0:
		return reasonFull
	case d.EndpointsOnly():
		return reasonEndpoints
	}
	return reasonConfig
}

// typeOrder is the order in which one stream's watches are answered, as
// ADS asks: clusters before their endpoints, listeners before routes.
var typeOrder = map[string]int{
	resource.ClusterType:  0,
	resource.EndpointType: 1,
	resource.ListenerType: 2,
	resource.RouteType:    3,
	resource.SecretType:   4,
}

// push evaluates watches in parallel, one stream at a time per worker so
// each stream's answers keep ADS order.
func (c *Cache) push(ws []*watch, reason string, pushStart time.Time) {
	byStream := map[*proxyStream][]*watch{}
	for _, w := range ws {
		byStream[w.st] = append(byStream[w.st], w)
	}
	work := make(chan []*watch, len(byStream))
	for _, list := range byStream {
		slices.SortFunc(list, func(a, b *watch) int { return rank(a.typeURL) - rank(b.typeURL) })
		work <- list
	}
	close(work)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(byStream)) {
		wg.Go(func() {
			for list := range work {
				for _, w := range list {
					w.evaluate(reason, pushStart)
				}
			}
		})
	}
	wg.Wait()
}

func rank(typeURL string) int {
	if r, ok := typeOrder[typeURL]; ok {
		return r
	}
	return len(typeOrder)
}
