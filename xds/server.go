package xds

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/server/sotw/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/pilotlight/pilotlight/translate/model"
)

// Defaults of Options.
const (
	DefaultDebounce          = 100 * time.Millisecond
	DefaultDebounceMax       = time.Second
	DefaultMaxStreamAge      = 30 * time.Minute
	DefaultMaxStreamAgeGrace = 10 * time.Second
)

// Options configure a Server. Zero values take the defaults.
type Options struct {
	Logger *zap.Logger
	// Debounce is the quiet period after an update before it is pushed.
	Debounce time.Duration
	// DebounceMax bounds how long a stream of updates delays a push.
	DebounceMax time.Duration
	// MaxStreamAge is how long a connection lives (±10 % jitter, added by
	// gRPC) before the client is told to reconnect, so that load
	// rebalances across replicas.
	MaxStreamAge time.Duration
	// MaxStreamAgeGrace is how long streams may finish after that before
	// the connection is closed and they end with Unavailable.
	MaxStreamAgeGrace time.Duration
	// Registry receives the server's metrics; nil registers nothing.
	Registry prometheus.Registerer
	// SourceHealth reports whether the config source can still reach its
	// source of truth (the Kubernetes API server); nil means it always
	// can. An unhealthy source does not make the server unready: it keeps
	// serving the last good state, and /ready says it is degraded.
	SourceHealth func() SourceStatus
	// ServeCredentials lets proxies on unauthenticated (plaintext)
	// streams subscribe to secrets (gateway credentialName certificates
	// and keys). Off, the cache refuses every SDS subscription on such a
	// stream; streams that proved an identity on the TLS port get their
	// namespace's secrets either way (see sds.go).
	ServeCredentials bool
	// WorkloadRenewCheck is how often minted workload secrets are checked
	// for renewal (workload.go).
	WorkloadRenewCheck time.Duration
}

// Server is pilotlight's ADS server.
type Server struct {
	opts    Options
	log     *zap.Logger
	metrics *metrics
	cache   *Cache
	xds     serverv3.Server

	// ctx ends when Run returns; go-control-plane ends every stream then.
	ctx  context.Context
	stop context.CancelFunc
	// started is when the server was built: a source without a health
	// hook has been healthy since then.
	started time.Time

	mu       sync.Mutex
	pending  *model.Snapshot
	kick     chan struct{}
	problems atomic.Pointer[[]model.Problem]
	// findings are the analysis of the installed snapshot.
	findings atomic.Pointer[[]model.Problem]
	// countMu serializes countProblems: Update (the source's goroutine)
	// and installPending (Run's) both call it, and one's Reset and Sets
	// interleaved with the other's could leave the older counts standing.
	countMu sync.Mutex
}

// NewServer builds a server. Nothing is served until Register and Run.
func NewServer(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Debounce <= 0 {
		opts.Debounce = DefaultDebounce
	}
	if opts.DebounceMax <= 0 {
		opts.DebounceMax = DefaultDebounceMax
	}
	if opts.MaxStreamAge <= 0 {
		opts.MaxStreamAge = DefaultMaxStreamAge
	}
	if opts.MaxStreamAgeGrace <= 0 {
		opts.MaxStreamAgeGrace = DefaultMaxStreamAgeGrace
	}
	if opts.WorkloadRenewCheck <= 0 {
		opts.WorkloadRenewCheck = DefaultWorkloadRenewCheck
	}
	log := opts.Logger.Named("xds")
	m := newMetrics(opts.Registry)
	s := &Server{
		opts:    opts,
		log:     log,
		metrics: m,
		cache:   newCache(log, m),
		kick:    make(chan struct{}, 1),
		started: time.Now(),
	}
	s.cache.serveCredentials = opts.ServeCredentials
	s.ctx, s.stop = context.WithCancel(context.Background())
	// go-control-plane logs routine protocol events (stale nonces) at
	// info; only its warnings are worth an operator's attention.
	gcpLog := log.Named("gcp").WithOptions(zap.IncreaseLevel(zap.WarnLevel)).Sugar()
	s.xds = serverv3.NewServer(s.ctx, s.cache, callbacks{c: s.cache},
		sotw.WithOrderedADS(), sotw.WithLogger(gcpLog))
	return s
}

// Cache returns the server's cache.
func (s *Server) Cache() *Cache { return s.cache }

// Register serves ADS, SotW and delta, on g.
func (s *Server) Register(g *grpc.Server) {
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(g, s.xds)
}

// ServerOptions returns the options the gRPC server that carries ADS
// needs. The maximum connection age makes gRPC send GOAWAY after it (±10 %
// jitter) and, after the grace period, close the connection, so its
// streams end with Unavailable and the client reconnects, possibly to
// another replica. Keepalive pings find proxies that vanished without
// closing their connection, and clients may ping every 15 s without being
// told to go away.
func (s *Server) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionAge:      s.opts.MaxStreamAge,
			MaxConnectionAgeGrace: s.opts.MaxStreamAgeGrace,
			Time:                  30 * time.Second,
			Timeout:               10 * time.Second,
		}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             15 * time.Second,
			PermitWithoutStream: true,
		}),
	}
}

// Update hands the server a new snapshot and the problems found building
// it. The snapshot is installed after the debounce; the problems are
// shown at once. A nil snapshot updates only the problems.
func (s *Server) Update(snap *model.Snapshot, problems []model.Problem) {
	p := append([]model.Problem(nil), problems...)
	s.problems.Store(&p)
	s.countProblems()
	if snap == nil {
		return
	}
	s.mu.Lock()
	s.pending = snap
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Ready reports whether a snapshot is installed and streams are served.
func (s *Server) Ready() bool { return s.cache.Ready() }

// SourceStatus is the health of the config source's link to its source of
// truth, as /debug/sourcez shows it.
type SourceStatus struct {
	Healthy bool `json:"healthy"`
	// Message says what is wrong; empty when healthy.
	Message string `json:"message"`
	// Since is when the current state began.
	Since time.Time `json:"since"`
}

// SourceStatus returns the config source's health.
func (s *Server) SourceStatus() SourceStatus {
	if s.opts.SourceHealth == nil {
		return SourceStatus{Healthy: true, Since: s.started}
	}
	return s.opts.SourceHealth()
}

// Problems returns the problems of the last Update.
func (s *Server) Problems() []model.Problem {
	var out []model.Problem
	if p := s.problems.Load(); p != nil {
		out = append(out, *p...)
	}
	if f := s.findings.Load(); f != nil {
		out = append(out, *f...)
	}
	return out
}

// countProblems sets pilotlight_config_problems from the current
// problems and findings.
func (s *Server) countProblems() {
	s.countMu.Lock()
	defer s.countMu.Unlock()
	type key struct{ kind, severity string }
	counts := map[key]float64{}
	for _, p := range s.Problems() {
		k := key{p.Kind, "error"}
		if p.Warning {
			k.severity = "warning"
		}
		if k.kind == "" {
			k.kind = "unknown" // An object that did not parse far enough to have a kind.
		}
		counts[k]++
	}
	s.metrics.problems.Reset()
	for k, n := range counts {
		s.metrics.problems.WithLabelValues(k.kind, k.severity).Set(n)
	}
}
