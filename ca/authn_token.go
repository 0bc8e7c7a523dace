package ca

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc/metadata"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Defaults of a TokenAuthenticator.
const (
	// DefaultAudience is the audience istio-agent asks its token for.
	DefaultAudience = "istio-ca"
	// DefaultTokenCacheTTL bounds how long a reviewed token is trusted
	// without asking the API server again, so a deleted service account
	// or pod stops getting certificates within it.
	DefaultTokenCacheTTL = 5 * time.Minute
	// DefaultNegativeCacheTTL is how long a refused token stays refused
	// without asking again: long enough to absorb a retry storm, short
	// enough that a just-created service account is not kept waiting.
	DefaultNegativeCacheTTL = 5 * time.Second
	// DefaultTokenCacheSize bounds the cache's entries.
	DefaultTokenCacheSize = 10000
	// DefaultTokenReviewTimeout bounds one TokenReview.
	DefaultTokenReviewTimeout = 5 * time.Second
	// maxTokenBytes bounds a bearer token; projected tokens are ~1 KiB.
	maxTokenBytes = 16 << 10
	// serviceAccountPrefix starts the user name of every service
	// account token.
	serviceAccountPrefix = "system:serviceaccount:"
	// serviceAccountsGroup is the group of every service account.
	serviceAccountsGroup = "system:serviceaccounts"
	// maxUnixSeconds is the year 9999, past any real token's expiry.
	maxUnixSeconds = 253402300799
)

// TokenOptions configure a TokenAuthenticator.
type TokenOptions struct {
	// Client reaches the API server that reviews tokens.
	Client kubernetes.Interface
	// TrustDomain is the trust domain of the ids proved.
	TrustDomain spiffeid.TrustDomain
	// Audiences the token must be meant for (one of them); nil is
	// [DefaultAudience].
	Audiences []string
	// CacheTTL, NegativeCacheTTL, CacheSize and Timeout default to the
	// constants above.
	CacheTTL         time.Duration
	NegativeCacheTTL time.Duration
	CacheSize        int
	Timeout          time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// TokenAuthenticator proves a caller's identity from its Kubernetes
// service account token, sent as gRPC metadata "authorization: Bearer
// TOKEN", by asking the API server (TokenReview) whether the token is
// valid for one of the audiences. Reviews are cached by a hash of the
// token: accepted ones until the token expires and at most CacheTTL,
// refused ones for NegativeCacheTTL. The token's own claims are read
// only to bound the cache and to refuse obviously expired tokens without
// a review; the API server is the only authority.
type TokenAuthenticator struct {
	opts TokenOptions
	now  func() time.Time

	mu    sync.Mutex
	cache map[[sha256.Size]byte]tokenEntry
}

type tokenEntry struct {
	caller  *Caller
	err     error
	expires time.Time
}

// NewTokenAuthenticator returns a TokenAuthenticator.
func NewTokenAuthenticator(o TokenOptions) *TokenAuthenticator {
	if len(o.Audiences) == 0 {
		o.Audiences = []string{DefaultAudience}
	}
	if o.CacheTTL == 0 {
		o.CacheTTL = DefaultTokenCacheTTL
	}
	if o.NegativeCacheTTL == 0 {
		o.NegativeCacheTTL = DefaultNegativeCacheTTL
	}
	if o.CacheSize == 0 {
		o.CacheSize = DefaultTokenCacheSize
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTokenReviewTimeout
	}
	return &TokenAuthenticator{opts: o, now: nowFunc(o.Now), cache: map[[sha256.Size]byte]tokenEntry{}}
}

// Authenticate implements Authenticator.
func (a *TokenAuthenticator) Authenticate(ctx context.Context) (*Caller, error) {
	token, err := bearerToken(ctx)
	if err != nil {
		return nil, err
	}
	now := a.now()
	key := sha256.Sum256([]byte(token))
	if c, err, ok := a.cached(key, now); ok {
		return c, err
	}
	exp, err := unverifiedExpiry(token)
	if err == nil && !exp.IsZero() && !now.Before(exp) {
		err = newError(KindUnauthenticated, ReasonTokenRejected, "the token expired at %s", exp.UTC().Format(time.RFC3339))
	}
	var c *Caller
	if err == nil {
		c, err = a.review(ctx, token)
	}
	if isUnavailable(err) {
		// The API server did not answer; the next call asks again.
		return nil, err
	}
	expires := now.Add(a.opts.NegativeCacheTTL)
	if err == nil {
		expires = now.Add(a.opts.CacheTTL)
		if !exp.IsZero() && exp.Before(expires) {
			expires = exp
		}
	}
	a.store(key, tokenEntry{caller: c, err: err, expires: expires}, now)
	return c, err
}

func (a *TokenAuthenticator) cached(key [sha256.Size]byte, now time.Time) (*Caller, error, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.cache[key]
	if !ok || !now.Before(e.expires) {
		return nil, nil, false
	}
	return e.caller, e.err, true
}

// store caches e. When the cache is full, expired entries go first; if
// none has expired, an arbitrary one goes, which costs one more review
// for its token and nothing else.
func (a *TokenAuthenticator) store(key [sha256.Size]byte, e tokenEntry, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.cache) >= a.opts.CacheSize {
		for k, old := range a.cache {
			if !now.Before(old.expires) {
				delete(a.cache, k)
			}
		}
		for k := range a.cache {
			if len(a.cache) < a.opts.CacheSize {
				break
			}
			delete(a.cache, k)
		}
	}
	a.cache[key] = e
}

// review asks the API server about token.
func (a *TokenAuthenticator) review(ctx context.Context, token string) (*Caller, error) {
	ctx, cancel := context.WithTimeout(ctx, a.opts.Timeout)
	defer cancel()
	tr, err := a.opts.Client.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{
		Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: a.opts.Audiences},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, wrapError(KindUnavailable, ReasonTokenReviewUnavailable, err, "the Kubernetes API server could not review the token")
	}
	st := tr.Status
	if !st.Authenticated {
		why := st.Error
		if why == "" {
			why = "not authenticated"
		}
		return nil, newError(KindUnauthenticated, ReasonTokenRejected, "the Kubernetes API server rejected the token: %s", why)
	}
	if !slices.ContainsFunc(st.Audiences, func(aud string) bool { return slices.Contains(a.opts.Audiences, aud) }) {
		return nil, newError(KindUnauthenticated, ReasonTokenRejected,
			"the token is not meant for audience %s (it is for %v)", strings.Join(a.opts.Audiences, " or "), st.Audiences)
	}
	name, ok := strings.CutPrefix(st.User.Username, serviceAccountPrefix)
	ns, sa, ok2 := strings.Cut(name, ":")
	if !ok || !ok2 || !slices.Contains(st.User.Groups, serviceAccountsGroup) {
		return nil, newError(KindUnauthenticated, ReasonTokenRejected, "the token is not a service account's (user %q)", st.User.Username)
	}
	id, err := WorkloadID(a.opts.TrustDomain, ns, sa)
	if err != nil {
		return nil, wrapError(KindUnauthenticated, ReasonTokenRejected, err, "the token's service account has no SPIFFE id")
	}
	return &Caller{ID: id, Namespace: ns, ServiceAccount: sa, Method: "kubernetes-token"}, nil
}

// bearerToken returns the token of the call's authorization metadata.
func bearerToken(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		scheme, token, ok := strings.Cut(v, " ")
		if !ok || !strings.EqualFold(scheme, "bearer") {
			continue
		}
		token = strings.TrimSpace(token)
		if len(token) > maxTokenBytes {
			return "", newError(KindUnauthenticated, ReasonTokenRejected, "the bearer token is %d bytes, above the limit of %d", len(token), maxTokenBytes)
		}
		if token != "" {
			return token, nil
		}
	}
	return "", errNoCredentials("no Kubernetes service account token (metadata authorization: Bearer TOKEN)")
}

// unverifiedExpiry reads a JWT's exp claim without checking anything; a
// token with no exp has a zero expiry. A token that is not a JWT at all
// is refused: every Kubernetes service account token is one.
func unverifiedExpiry(token string) (time.Time, error) {
	parts := strings.Split(token, ".")
	notJWT := newError(KindUnauthenticated, ReasonTokenRejected, "the bearer token is not a JWT")
	if len(parts) != 3 {
		return time.Time{}, notJWT
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}, notJWT
	}
	var claims struct {
		Exp *json.Number `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return time.Time{}, notJWT
	}
	if claims.Exp == nil {
		return time.Time{}, nil
	}
	exp, err := claims.Exp.Float64()
	if err != nil {
		return time.Time{}, notJWT
	}
	if exp <= 0 || exp > maxUnixSeconds {
		// Absurd, so not one the API server issued; the review will say
		// so, and the cache is bounded by CacheTTL alone meanwhile.
		return time.Time{}, nil
	}
	return time.Unix(int64(exp), 0), nil
}

// isUnavailable tells whether err says the API server could not answer.
func isUnavailable(err error) bool {
	return err != nil && asError(err).Kind == KindUnavailable
}

// String names the authenticator for logs.
func (a *TokenAuthenticator) String() string {
	return fmt.Sprintf("Kubernetes TokenReview (audiences %v)", a.opts.Audiences)
}
