package ca

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

// withToken returns a context whose incoming metadata carries token.
func withToken(token string) context.Context {
	return metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+token))
}

func wantError(t *testing.T, err error, kind Kind, reason, contains string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Kind != kind || e.Reason != reason || !strings.Contains(err.Error(), contains) {
		t.Errorf("error = %v, want kind %d reason %s containing %q", err, kind, reason, contains)
	}
}

func newTokenAuthn(f *fakeTokenReviews, clock *testClock) *TokenAuthenticator {
	return NewTokenAuthenticator(TokenOptions{Client: f.client, TrustDomain: testTD, Now: clock.Now})
}

func TestTokenAuthenticatorAcceptsServiceAccountTokens(t *testing.T) {
	clock := newTestClock()
	f := newFakeTokenReviews()
	a := newTokenAuthn(f, clock)
	tok := f.add("bookinfo", "ratings", clock.Now().Add(time.Hour), "kubernetes.default.svc", DefaultAudience)
	c, err := a.Authenticate(withToken(tok))
	if err != nil {
		t.Fatal(err)
	}
	if c.ID.String() != "spiffe://cluster.local/ns/bookinfo/sa/ratings" || c.Namespace != "bookinfo" || c.ServiceAccount != "ratings" {
		t.Errorf("caller = %+v", c)
	}
	// The second call is answered from the cache.
	if _, err := a.Authenticate(withToken(tok)); err != nil {
		t.Fatal(err)
	}
	if n := f.calls.Load(); n != 1 {
		t.Errorf("%d TokenReviews, want 1 (cache hit)", n)
	}
}

func TestTokenAuthenticatorCacheExpiry(t *testing.T) {
	clock := newTestClock()
	f := newFakeTokenReviews()
	a := newTokenAuthn(f, clock)
	short := f.add("a", "short", clock.Now().Add(time.Minute))
	long := f.add("a", "long", clock.Now().Add(24*time.Hour))
	for _, tok := range []string{short, long} {
		if _, err := a.Authenticate(withToken(tok)); err != nil {
			t.Fatal(err)
		}
	}
	// Past the short token's exp it is refused without a review; the
	// long one is still cached.
	clock.Advance(2 * time.Minute)
	_, err := a.Authenticate(withToken(short))
	wantError(t, err, KindUnauthenticated, ReasonTokenRejected, "expired")
	if _, err := a.Authenticate(withToken(long)); err != nil {
		t.Fatal(err)
	}
	if n := f.calls.Load(); n != 2 {
		t.Errorf("%d TokenReviews, want 2", n)
	}
	// Past the cache TTL the long one is reviewed again, so a deleted
	// service account loses access within it.
	clock.Advance(DefaultTokenCacheTTL)
	if _, err := a.Authenticate(withToken(long)); err != nil {
		t.Fatal(err)
	}
	if n := f.calls.Load(); n != 3 {
		t.Errorf("%d TokenReviews, want 3", n)
	}
}

func TestTokenAuthenticatorRefusesBadTokens(t *testing.T) {
	clock := newTestClock()
	f := newFakeTokenReviews()
	exp := clock.Now().Add(time.Hour)
	wrongAud := f.add("a", "b", exp, "vault")
	expired := f.add("a", "b", clock.Now().Add(-time.Second))
	revoked := f.add("a", "b", exp)
	f.tokens[revoked] = reviewedToken{invalid: "[invalid bearer token, service account token has been invalidated]"}
	notSA := f.add("a", "b", exp)
	f.tokens[notSA] = reviewedToken{user: "alice", audiences: []string{DefaultAudience}}
	for _, tc := range []struct {
		name     string
		ctx      context.Context
		reason   string
		contains string
		reviews  int64
	}{
		{"no metadata", context.Background(), ReasonNoCredentials, "no Kubernetes service account token", 0},
		{"basic auth", metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Basic dXNlcjpwYXNz")), ReasonNoCredentials, "no Kubernetes", 0},
		{"not a JWT", withToken("opaque-token"), ReasonTokenRejected, "not a JWT", 0},
		{"oversized", withToken(strings.Repeat("a", maxTokenBytes+1)), ReasonTokenRejected, "above the limit", 0},
		{"expired", withToken(expired), ReasonTokenRejected, "expired at", 0},
		{"forged", withToken(fakeJWT(exp, "forged")), ReasonTokenRejected, "rejected the token: [invalid bearer token", 1},
		{"wrong audience", withToken(wrongAud), ReasonTokenRejected, "rejected the token", 1},
		{"revoked", withToken(revoked), ReasonTokenRejected, "invalidated", 1},
		{"not a service account", withToken(notSA), ReasonTokenRejected, `not a service account's (user "alice")`, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.calls.Load()
			c, err := newTokenAuthn(f, clock).Authenticate(tc.ctx)
			if c != nil {
				t.Errorf("caller %v proved", c.ID)
			}
			wantError(t, err, KindUnauthenticated, tc.reason, tc.contains)
			if got := f.calls.Load() - before; got != tc.reviews {
				t.Errorf("%d TokenReviews, want %d", got, tc.reviews)
			}
		})
	}
}

func TestTokenAuthenticatorChecksReturnedAudience(t *testing.T) {
	// An API server that authenticates a token without saying it is for
	// istio-ca (a non audience-aware authenticator) is not enough.
	clock := newTestClock()
	f := newFakeTokenReviews()
	a := NewTokenAuthenticator(TokenOptions{Client: f.client, TrustDomain: testTD, Now: clock.Now, Audiences: []string{"istio-ca", "other"}})
	tok := f.add("a", "b", clock.Now().Add(time.Hour), "other")
	if _, err := a.Authenticate(withToken(tok)); err != nil {
		t.Fatalf("a token for one of the audiences: %v", err)
	}
	f.mu.Lock()
	f.tokens[tok] = reviewedToken{user: "system:serviceaccount:a:b", audiences: []string{"other"}}
	f.mu.Unlock()
	strict := newTokenAuthn(f, clock)
	_, err := strict.Authenticate(withToken(tok))
	wantError(t, err, KindUnauthenticated, ReasonTokenRejected, "")
}

func TestTokenAuthenticatorNegativeCache(t *testing.T) {
	clock := newTestClock()
	f := newFakeTokenReviews()
	a := newTokenAuthn(f, clock)
	tok := fakeJWT(clock.Now().Add(time.Hour), "not-yet")
	for range 3 {
		_, err := a.Authenticate(withToken(tok))
		wantError(t, err, KindUnauthenticated, ReasonTokenRejected, "")
	}
	if n := f.calls.Load(); n != 1 {
		t.Errorf("%d TokenReviews for a refused token, want 1", n)
	}
	// A short while later the API server is asked again: the service
	// account may just have been created.
	f.mu.Lock()
	f.tokens[tok] = reviewedToken{user: "system:serviceaccount:a:b", audiences: []string{DefaultAudience}}
	f.mu.Unlock()
	clock.Advance(DefaultNegativeCacheTTL)
	if _, err := a.Authenticate(withToken(tok)); err != nil {
		t.Errorf("after the negative cache TTL: %v", err)
	}
}

func TestTokenAuthenticatorAPIServerDown(t *testing.T) {
	clock := newTestClock()
	f := newFakeTokenReviews()
	a := newTokenAuthn(f, clock)
	tok := f.add("a", "b", clock.Now().Add(time.Hour))
	f.down.Store(true)
	_, err := a.Authenticate(withToken(tok))
	wantError(t, err, KindUnavailable, ReasonTokenReviewUnavailable, "could not review the token")
	if strings.Contains(err.Error(), tok) {
		t.Error("the error quotes the token")
	}
	// An outage is not cached.
	f.down.Store(false)
	if _, err := a.Authenticate(withToken(tok)); err != nil {
		t.Errorf("after the outage: %v", err)
	}
}

func TestTokenAuthenticatorCacheIsBounded(t *testing.T) {
	clock := newTestClock()
	f := newFakeTokenReviews()
	a := NewTokenAuthenticator(TokenOptions{Client: f.client, TrustDomain: testTD, Now: clock.Now, CacheSize: 10})
	for i := range 50 {
		tok := f.add("a", "b", clock.Now().Add(time.Duration(i+1)*time.Hour))
		if _, err := a.Authenticate(withToken(tok)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(a.cache); n > 10 {
		t.Errorf("cache holds %d entries, want at most 10", n)
	}
}

func TestUnverifiedExpiry(t *testing.T) {
	for _, tc := range []struct {
		token   string
		want    time.Time
		wantErr bool
	}{
		{fakeJWT(time.Unix(1700000000, 0), "x"), time.Unix(1700000000, 0), false},
		{fakeJWT(time.Time{}, "x"), time.Time{}, false},
		{"a.b", time.Time{}, true},
		{"a.!!!.c", time.Time{}, true},
		{"a." + "bm90IGpzb24" + ".c", time.Time{}, true},
		{"a.eyJleHAiOjFlMzAwfQ.c", time.Time{}, false}, // {"exp":1e300}: absurd, ignored
		{"a.eyJleHAiOiJzb29uIn0.c", time.Time{}, true}, // {"exp":"soon"}
	} {
		got, err := unverifiedExpiry(tc.token)
		if (err != nil) != tc.wantErr || !got.Equal(tc.want) {
			t.Errorf("unverifiedExpiry(%q) = %v, %v; want %v, error %v", tc.token, got, err, tc.want, tc.wantErr)
		}
	}
}

// withPeerCerts returns a context as gRPC builds it for a TLS connection
// whose client sent certs.
func withPeerCerts(certs ...*x509.Certificate) context.Context {
	return peer.NewContext(context.Background(), &peer.Peer{
		Addr:     &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4000},
		AuthInfo: credentials.TLSInfo{State: tls.ConnectionState{PeerCertificates: certs}},
	})
}

func TestCertAuthenticator(t *testing.T) {
	a := newTestAuthority(t, KeyECDSA, Options{})
	other := newTestAuthority(t, KeyECDSA, Options{})
	issue := func(a *Authority, uri string) *x509.Certificate {
		csr, id, err := ParseCSR(csrFor(t, newKey(t, "ecdsa"), uri))
		if err != nil {
			t.Fatal(err)
		}
		issued, err := a.SignWorkload(csr, id, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return issued.Cert
	}
	good := issue(a, spiffeOf("bookinfo", "reviews"))
	c, err := NewCertAuthenticator(a).Authenticate(withPeerCerts(good))
	if err != nil {
		t.Fatal(err)
	}
	if c.ID.String() != spiffeOf("bookinfo", "reviews") || c.Namespace != "bookinfo" || c.ServiceAccount != "reviews" {
		t.Errorf("caller = %+v", c)
	}
	serving, err := a.SignServing(newKey(t, "ecdsa").Public(), []string{"x"}, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		ctx    context.Context
		reason string
	}{
		{"no peer", context.Background(), ReasonNoCredentials},
		{"no certificate", withPeerCerts(), ReasonNoCredentials},
		{"another CA's", withPeerCerts(issue(other, spiffeOf("bookinfo", "reviews"))), ReasonCertificateRejected},
		{"no SPIFFE id", withPeerCerts(serving.Cert), ReasonCertificateRejected},
		{"the CA itself", withPeerCerts(a.Material().Cert), ReasonCertificateRejected},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewCertAuthenticator(a).Authenticate(tc.ctx)
			if c != nil {
				t.Errorf("caller %v proved", c.ID)
			}
			wantError(t, err, KindUnauthenticated, tc.reason, "")
		})
	}
}

type errAuthenticator struct{ err error }

func (e errAuthenticator) Authenticate(context.Context) (*Caller, error) { return nil, e.err }

func TestAuthenticators(t *testing.T) {
	none1 := errAuthenticator{errNoCredentials("no token")}
	none2 := errAuthenticator{errNoCredentials("no certificate")}
	refused := errAuthenticator{newError(KindUnauthenticated, ReasonTokenRejected, "bad token")}
	ok := staticAuthenticator{callerOf(t, "a", "b")}
	if c, err := (Authenticators{none1, refused, ok}).Authenticate(context.Background()); err != nil || c.ID.String() != spiffeOf("a", "b") {
		t.Errorf("a later success: %v, %v", c, err)
	}
	_, err := Authenticators{none1, refused, none2}.Authenticate(context.Background())
	wantError(t, err, KindUnauthenticated, ReasonTokenRejected, "bad token")
	_, err = Authenticators{none1, none2}.Authenticate(context.Background())
	wantError(t, err, KindUnauthenticated, ReasonNoCredentials, "no credentials: no token; no certificate")
}
