package xds

import (
	"context"
	"errors"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"

	"github.com/pilotlight/pilotlight/ca"
	"github.com/pilotlight/pilotlight/translate/model"
)

// Streams on the TLS port (15012) are authenticated, as istiod does it:
// the stream must prove an identity when it opens (a Kubernetes service
// account token in metadata "authorization: Bearer TOKEN", which is what
// istio-agent sends, or a client certificate from the mesh CA), and the
// node its first request carries must claim that identity's namespace
// and, if it names one, its service account. A stream that fails either
// check is refused before anything is sent, with the gRPC code the CA
// maps the failure to (ca.GRPCError, the one place): Unauthenticated,
// PermissionDenied, or Unavailable when the API server cannot review the
// token. Each refusal is one log line and one count by reason.
//
// The identity is proved once, when the stream opens; the maximum stream
// age (30 minutes by default) bounds how long a stream outlives the
// token that opened it.
//
// Streams on the plaintext port (15010) carry no identity: they get
// config, and secrets only where the operator allowed it
// (Options.ServeCredentials), never minted workload keys.

// StreamAuthenticator proves the identity behind a stream from its
// context (metadata and TLS peer). ca.Authenticators is one.
type StreamAuthenticator interface {
	Authenticate(ctx context.Context) (*ca.Caller, error)
}

// reasonInternal labels a refusal whose error did not come from the CA's
// authenticators with a reason.
const reasonInternal = "internal"

// callerKey is the context key of the identity proved for a stream.
type callerKey struct{}

// callerOf returns the identity proved for the stream of ctx; nil on an
// unauthenticated (plaintext) stream.
func callerOf(ctx context.Context) *ca.Caller {
	c, _ := ctx.Value(callerKey{}).(*ca.Caller)
	return c
}

// AuthOptions configure ADS on the TLS port.
type AuthOptions struct {
	// Authenticator proves each stream's identity; required.
	Authenticator StreamAuthenticator
	// WorkloadCA, if set, mints the workload secrets of plain Envoys
	// that opt in (workload.go).
	WorkloadCA WorkloadCA
	// SecretsAuthorizer, if set, decides which streams get their
	// namespace's gateway certificates (sds.go); unset, all do.
	SecretsAuthorizer SecretsAuthorizer
}

// RegisterAuthenticated serves ADS, SotW and delta, on g, for streams
// that prove an identity (see above). g must be the TLS server: over
// plaintext, a token could be replayed by anyone on the path. Call it
// once, before g serves.
func (s *Server) RegisterAuthenticated(g *grpc.Server, o AuthOptions) {
	if o.WorkloadCA != nil {
		s.cache.workload.Store(newWorkloadSecrets(o.WorkloadCA, &s.cache.builder, s.log, s.metrics))
		go s.cache.renewWorkloadSecrets(s.ctx, o.WorkloadCA, s.opts.WorkloadRenewCheck)
	}
	s.cache.secretsAuthz = o.SecretsAuthorizer
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(g, &authenticatedADS{s: s, authn: o.Authenticator})
}

// authenticatedADS authenticates each stream, then hands it to
// go-control-plane with the proved identity in its context, where the
// stream-open callback finds it.
type authenticatedADS struct {
	s     *Server
	authn StreamAuthenticator
}

func (a *authenticatedADS) StreamAggregatedResources(st discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesServer) error {
	ctx, err := a.s.authenticate(st.Context(), a.authn)
	if err != nil {
		return err
	}
	return a.s.xds.StreamAggregatedResources(sotwStream{st, ctx})
}

func (a *authenticatedADS) DeltaAggregatedResources(st discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesServer) error {
	ctx, err := a.s.authenticate(st.Context(), a.authn)
	if err != nil {
		return err
	}
	return a.s.xds.DeltaAggregatedResources(deltaStream{st, ctx})
}

type sotwStream struct {
	discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesServer
	ctx context.Context
}

func (s sotwStream) Context() context.Context { return s.ctx }

type deltaStream struct {
	discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesServer
	ctx context.Context
}

func (s deltaStream) Context() context.Context { return s.ctx }

// authenticate proves the identity of a stream and returns its context
// with the caller added, or the status to end the stream with.
func (s *Server) authenticate(ctx context.Context, authn StreamAuthenticator) (context.Context, error) {
	caller, err := authn.Authenticate(ctx)
	if err != nil {
		s.cache.refuseStream(err, zap.String("peer", peerAddr(ctx)))
		return nil, ca.GRPCError(err)
	}
	return context.WithValue(ctx, callerKey{}, caller), nil
}

// authorize checks that an authenticated stream's node claims the
// identity the stream proved; nil on a plaintext stream.
func (c *Cache) authorize(st *proxyStream, p *model.Proxy) error {
	if st.caller == nil {
		return nil
	}
	if err := st.caller.Authorize(p.Namespace, p.ServiceAccount); err != nil {
		c.refuseStream(err, zap.String("proxy", p.ID))
		return ca.GRPCError(err)
	}
	c.metrics.streamsAuthenticated.WithLabelValues(st.caller.Method).Inc()
	return nil
}

// refuseStream logs and counts a stream refused for err. The error text
// never holds the token (the CA's errors are written not to).
func (c *Cache) refuseStream(err error, where zap.Field) {
	reason, kind := reasonInternal, ca.KindInternal
	var e *ca.Error
	if errors.As(err, &e) {
		reason, kind = e.Reason, e.Kind
	}
	c.metrics.streamsRefused.WithLabelValues(reason).Inc()
	log := c.log.Info
	if kind == ca.KindUnavailable || kind == ca.KindInternal {
		// Not the client's fault: the operator should look.
		log = c.log.Warn
	}
	log("refusing stream: "+authRefusal(kind), where, zap.String("reason", reason), zap.Error(err))
}

func authRefusal(k ca.Kind) string {
	switch k {
	case ca.KindPermissionDenied:
		return "its node claims another identity than the one it proved"
	case ca.KindUnavailable, ca.KindInternal:
		return "its identity cannot be checked now"
	}
	return "it proved no identity"
}

// peerAddr returns the client's address, for logs.
func peerAddr(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}
