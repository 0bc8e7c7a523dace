package xds

import (
	"context"
	"errors"
	"maps"
	"slices"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"go.uber.org/zap"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/pilotlight/pilotlight/ca"
	"github.com/pilotlight/pilotlight/translate/resource"
)

// Secrets (SDS) are served like every other type: the generator's
// Outbound set for the proxy's view holds them (a router's credentialName
// certificates, from its own namespace only), and named subscriptions
// resolve against it. What differs is who may have them.
//
// DESIGN.md: plaintext streams get config, never keys. A stream on the
// TLS port has proved an identity whose namespace is its node's
// (auth.go), and the view it is served from has that namespace, so it
// may get its namespace's gateway certificates, as istiod serves a proxy
// the Secrets of its verified namespace. As with istiod, it gets them
// only if its service account may also read Secrets there
// (SecretsAuthorizer, a SubjectAccessReview): every workload of the
// namespace can prove the namespace and claim to be a router, only the
// gateway's account is granted the Secrets. A refused stream is served
// its other secrets (its own minted ones, workload.go) without the
// certificates; the refusal is counted and logged once per stream.
//
// A plaintext stream cannot be told from anything else that can reach
// port 15010 and claim to be a gateway: there, serving secrets is the
// operator's explicit choice, Options.ServeCredentials
// (--serve-gateway-secrets), for a control plane only gateways can
// reach. Otherwise every SDS subscription on it is refused: the watch is
// never answered, as istiod does for an unauthorised proxy, so Envoy
// keeps the TLS listener warming until its initial fetch timeout and
// then refuses handshakes on it while the rest of its config works. Each
// refusal is counted; the first on a stream is logged with the names
// asked for.

const secretsRefusedMessage = "this server serves secrets (gateway certificates) only to streams that proved an identity on the TLS port (--secure-grpc-addr); " +
	"start it with --serve-gateway-secrets to serve them over plaintext too"

// refusesSecrets reports whether a subscription must be refused, and
// accounts for it.
func (c *Cache) refusesSecrets(st *proxyStream, typeURL string, sub cachev3.Subscription) bool {
	if typeURL != resource.SecretType {
		return false
	}
	if st.caller != nil {
		c.reviewCredentialAccess(st, sub)
		return false
	}
	if c.serveCredentials {
		return false
	}
	c.metrics.refusedSecrets.WithLabelValues(refusedUnauthenticated).Inc()
	st.mu.Lock()
	first := !st.secretsRefused
	st.secretsRefused = true
	st.mu.Unlock()
	if first {
		names := slices.Sorted(maps.Keys(sub.SubscribedResources()))
		c.log.Warn("refusing secrets: "+secretsRefusedMessage,
			zap.String("proxy", st.proxy.ID), zap.Strings("names", names), zap.Bool("wildcard", sub.IsWildcard()))
	}
	return true
}

// Values of the reason label of pilotlight_xds_refused_secret_requests_total.
const (
	refusedUnauthenticated = "unauthenticated"
	refusedAccessDenied    = ca.ReasonSecretAccessDenied
)

// SecretsAuthorizer decides whether a stream that proved an identity may
// be served its namespace's gateway certificates; ca.SecretAccessReviewer
// is one. A nil error allows.
type SecretsAuthorizer interface {
	MayReadSecrets(ctx context.Context, c *ca.Caller) error
}

// reviewCredentialAccess asks the SecretsAuthorizer, once per stream,
// whether an authenticated stream may have gateway certificates, and
// accounts for a refusal. An answer the API server could not give is
// not kept: the stream's next subscription asks again.
func (c *Cache) reviewCredentialAccess(st *proxyStream, sub cachev3.Subscription) {
	if c.secretsAuthz == nil {
		return
	}
	st.mu.Lock()
	reviewed := st.credentialsReviewed
	st.mu.Unlock()
	if reviewed {
		return
	}
	err := c.secretsAuthz.MayReadSecrets(context.Background(), st.caller)
	var e *ca.Error
	unavailable := errors.As(err, &e) && e.Kind == ca.KindUnavailable
	st.mu.Lock()
	st.credentialsReviewed = !unavailable
	st.credentialsDenied = err != nil
	st.mu.Unlock()
	if err == nil {
		return
	}
	c.metrics.refusedSecrets.WithLabelValues(refusedAccessDenied).Inc()
	names := slices.Sorted(maps.Keys(sub.SubscribedResources()))
	log := c.log.Info
	if unavailable {
		log = c.log.Warn
	}
	log("refusing gateway certificates: the stream's service account may not read Secrets",
		zap.String("proxy", st.proxy.ID), zap.Strings("names", names), zap.Error(err))
}

// withoutCredentials drops the secrets that come from the snapshot
// (gateway certificates) when the stream may not have them, keeping the
// minted workload secrets. items may be a cache entry's: it is not
// changed.
func (c *Cache) withoutCredentials(st *proxyStream, items []*built) []*built {
	st.mu.Lock()
	denied := st.credentialsDenied
	st.mu.Unlock()
	if !denied {
		return items
	}
	var kept []*built
	for _, b := range items {
		if b.from == nil { // Minted (workload.go), not built from the snapshot.
			kept = append(kept, b)
		}
	}
	return kept
}

// redactedSecret renders a secret for config_dump with its private key
// replaced by a marker, as Envoy's own config dump does; certificates and
// CA bundles are public and stay.
func redactedSecret(m proto.Message) ([]byte, error) {
	a, ok := m.(*anypb.Any)
	if !ok {
		return nil, errors.New("not a packed secret")
	}
	s := &tlsv3.Secret{}
	if err := a.UnmarshalTo(s); err != nil {
		return nil, err
	}
	if c := s.GetTlsCertificate(); c != nil {
		c = proto.Clone(c).(*tlsv3.TlsCertificate)
		if c.GetPrivateKey() != nil {
			c.PrivateKey = redactedData()
		}
		if c.GetPassword() != nil {
			c.Password = redactedData()
		}
		s.Type = &tlsv3.Secret_TlsCertificate{TlsCertificate: c}
	}
	if k := s.GetSessionTicketKeys(); k != nil {
		s.Type = &tlsv3.Secret_SessionTicketKeys{SessionTicketKeys: &tlsv3.TlsSessionTicketKeys{}}
	}
	if g := s.GetGenericSecret(); g != nil {
		s.Type = &tlsv3.Secret_GenericSecret{GenericSecret: &tlsv3.GenericSecret{Secret: redactedData()}}
	}
	return protojson.Marshal(resource.Any(s))
}

func redactedData() *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: "[redacted]"}}
}
